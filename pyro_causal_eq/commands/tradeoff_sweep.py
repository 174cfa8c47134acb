"""``pyro-causal-eq tradeoff --scenarios FILE [--scheduler local|ADDRESS --workers N]``: a
trade-off sweep over the tables, regions, draws and λ of a YAML / JSON scenario file.

The file::

    tables:                       # scenario name -> table spec
      test: {source: pymrio_test}
      us: {source: useeio, path: /data/useeio/USEEIOv2.0.1-411}
    regions: [reg1, reg2]         # or [all] (whole table); countries for Exiobase
    lambdas: [1, 10, 100]         # optional: default per-scenario grid
    draws: 4                      # Monte Carlo draws of the tables
    noise: [0.05, 0.05]           # log-normal (sigma_A, sigma_y) of the draws
    seed: 0
    options: {method: exact, branches: local, bounds: [0, 2]}
"""

from __future__ import annotations

import json
from pathlib import Path

KEYS = {"tables", "regions", "lambdas", "draws", "noise", "seed", "options"}


def read_scenarios(path) -> dict:
    """The scenario file as a dict (YAML or JSON by suffix), checked for known keys."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover
            raise ValueError("YAML scenario files need pyyaml (pip install pyyaml)") from None
        spec = yaml.safe_load(text)
    else:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--scenarios {path}: not valid JSON ({error})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("tables"), dict) or not spec["tables"]:
        raise ValueError(f"--scenarios {path}: needs a mapping 'tables: {{name: spec}}'")
    unknown = set(spec) - KEYS
    if unknown:
        raise ValueError(
            f"--scenarios {path}: unknown keys {sorted(unknown)}; known: {sorted(KEYS)}"
        )
    return spec


def run_sweep(args) -> int:
    """Run the sweep of ``args.scenarios`` and write ``OUT/sweep.nc`` (resumable)."""
    from ..economics.sweep import sweep
    from ..economics.tradeoff_summary import format_sweep

    spec = read_scenarios(args.scenarios)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    ds = sweep(
        spec["tables"],
        spec.get("regions", ["all"]),
        spec.get("lambdas"),
        draws=int(spec.get("draws", 1)),
        noise=tuple(spec.get("noise", (0.0, 0.0))),
        seed=int(spec.get("seed", 0)),
        output=out / "sweep.nc",
        scheduler=args.scheduler,
        workers=args.workers,
        retries=args.retries,
        progress=not args.no_progress,
        **spec.get("options", {}),
    )
    print(format_sweep(ds))
    print(f"\nwrote:\n  {out / 'sweep.nc'}")
    return 0
