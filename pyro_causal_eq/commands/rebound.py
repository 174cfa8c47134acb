"""``pyro-causal-eq rebound``: the invariant intervention of the price-rebound model.

An energy-efficiency gain (the Lie intervention ``efficiency -> u · efficiency`` on the energy
row of ``A``) lowers the price of good 0, its demand rises and the economy uses more energy
(backfire). The invariant intervention adds a learned soft intervention on the price node
``p[0]`` that keeps the demand ``y[0]`` at its unintervened value for every ``A_01`` in a
range (paper Sec. 4); energy use then falls. Prints energy use without intervention, with the
efficiency gain alone, and with the invariant intervention over a grid of ``A_01``, plus the
invariance error; writes ``rebound.nc``, ``rebound.csv`` and ``summary.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .output import float64, fmt, write_folder

EXAMPLES = """\
examples:
  pyro-causal-eq rebound                          # efficiency 0.6, A_01 in [0.01, 0.19]
  pyro-causal-eq rebound --efficiency 0.8 --a01 0.05 0.15 --grid 5
  pyro-causal-eq rebound --num-train 64 --lm-steps 10 --out rebound_quick   # faster, coarser

outputs (in --out): rebound.nc (grid of A_01: energy use, demand y[0], price p[0] for the
three systems; held-out errors), rebound.csv (the printed table), summary.json.
Energy use is x[1], the gross output of the energy sector, in the model's units.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``rebound`` subcommand on an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "rebound",
        help="invariant intervention against the energy rebound (price-rebound model)",
        description="Learn the soft intervention on the price of good 0 that keeps its demand "
        "invariant under an energy-efficiency gain, over a range of the coefficient A_01, and "
        "compare energy use with and without it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--efficiency", type=float, default=0.6, help="efficiency factor u in (0, 1] (0.6)"
    )
    parser.add_argument(
        "--a01", nargs=2, type=float, default=(0.01, 0.19), metavar=("LO", "HI"),
        help="range of the free coefficient A_01 (default 0.01 0.19)",
    )  # fmt: skip
    parser.add_argument("--grid", type=int, default=9, help="A_01 values in the table (9)")
    parser.add_argument("--steps", type=int, default=0, help="Adam steps before LM (0)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--lm-steps", type=int, default=30, help="Levenberg-Marquardt steps")
    parser.add_argument("--num-train", type=int, default=128, help="training draws of A_01")
    parser.add_argument("--num-test", type=int, default=128, help="held-out draws of A_01")
    parser.add_argument(
        "--hidden", type=int, nargs="+", default=(12, 12), help="MLP widths (12 12)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of draws and network")
    parser.add_argument("--out", default="rebound_results", metavar="DIR", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(_run=run)
    return parser


def run(args) -> int:
    """Run the ``rebound`` subcommand; returns the exit code."""
    if not 0 < args.efficiency <= 1:
        raise ValueError(f"--efficiency must lie in (0, 1], got {args.efficiency}")
    lo, hi = args.a01
    if not 0 <= lo < hi < 1:
        raise ValueError(f"--a01 needs 0 <= LO < HI < 1, got {lo} {hi}")
    if args.grid < 2:
        raise ValueError(f"--grid must be at least 2, got {args.grid}")
    with float64():
        return _run(args)


def _run(args) -> int:
    import torch

    from ..economics.rebound import rebound_model
    from ..groups import Scale
    from ..handlers import do
    from ..invariance import InvariantOptions, learn_invariant_intervention

    lo, hi = args.a01
    efficiency = {"efficiency": Scale(args.efficiency)}
    a01 = {"a01": torch.distributions.Uniform(torch.tensor(lo), torch.tensor(hi))}
    options = InvariantOptions(
        hidden=tuple(args.hidden), num_train=args.num_train, num_test=args.num_test,
        lm_steps=args.lm_steps,
    )  # fmt: skip
    result = learn_invariant_intervention(
        rebound_model, efficiency, "y[0]", "p[0]", a01, steps=args.steps, lr=args.lr,
        seed=args.seed, progress=not args.no_progress, options=options,
    )  # fmt: skip
    grid = torch.linspace(lo, hi, args.grid)
    with torch.no_grad():
        systems = {
            "reference": rebound_model(a01=grid),
            "efficiency": do(rebound_model, actions=efficiency)(a01=grid),
        }
        with result.handler():
            systems["invariant"] = rebound_model(a01=grid)
    table = _table(grid, systems)
    summary = _summary(args, result, table)
    ds = _dataset(grid, systems, result, summary)
    written = write_folder(
        args.out,
        {
            "rebound.nc": lambda tmp: ds.to_netcdf(tmp),
            "rebound.csv": lambda tmp: table.to_csv(tmp, index=False),
            "summary.json": lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)),
        },
    )
    _print(summary, table, written)
    return 0


def _table(grid, systems):
    import pandas as pd

    from ..economics.rebound import ENERGY

    ref = systems["reference"]
    columns = {"A_01": grid.tolist()}
    for name, eq in systems.items():
        columns[f"energy_{name}"] = eq["x"][:, ENERGY].tolist()
    inv = systems["invariant"]
    columns["demand_y0_deviation"] = (
        (inv["y"][:, 0] - ref["y"][:, 0]).abs() / ref["y"][:, 0]
    ).tolist()
    return pd.DataFrame(columns)


def _summary(args, result, table) -> dict:
    ref, lie, inv = (table[f"energy_{k}"] for k in ("reference", "efficiency", "invariant"))
    return {
        "efficiency": args.efficiency,
        "a01_range": list(args.a01),
        "invariance_error_held_out": result.invariance_error,
        "invariance_error_grid": float(table["demand_y0_deviation"].max()),
        "held_out_draws": args.num_test,
        "training_seconds": round(result.log.seconds, 3),
        "backfire_everywhere": bool((lie > ref).all()),
        "saving_everywhere": bool((inv < ref).all()),
        "mean_energy": {"reference": ref.mean(), "efficiency": lie.mean(), "invariant": inv.mean()},
    }


def _dataset(grid, systems, result, summary):
    import xarray as xr

    from ..economics.rebound import ENERGY

    data = {}
    for name, eq in systems.items():
        data[f"energy_{name}"] = ("a01", eq["x"][:, ENERGY].numpy())
        data[f"demand_y0_{name}"] = ("a01", eq["y"][:, 0].numpy())
        data[f"price_p0_{name}"] = ("a01", eq["p"][:, 0].numpy())
    held_out = result.to_xarray()
    data["held_out_error"] = ("draw", held_out["error"].sel(invariant="y[0]").values)
    data["held_out_a01"] = ("draw", held_out["parameter_a01"].values)
    attrs = {
        k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    attrs["units"] = "energy use = x[1], gross output of the energy sector (model units)"
    return xr.Dataset(data, coords={"a01": grid.numpy()}, attrs=attrs)


def _print(summary: dict, table, written) -> None:
    lo, hi = summary["a01_range"]
    print(
        f"price-rebound model: energy efficiency factor {fmt(summary['efficiency'])} on the "
        f"energy row of A, invariant demand y[0] via the price p[0], A_01 in [{fmt(lo)}, {fmt(hi)}]"
    )
    held_out, on_grid = summary["invariance_error_held_out"], summary["invariance_error_grid"]
    print(
        f"invariance error (max relative deviation of y[0]): {held_out:.2e} on "
        f"{summary['held_out_draws']} held-out draws, {on_grid:.2e} on the grid"
    )
    print("\nenergy use x[1] (model units):")
    shown = table.rename(
        columns={
            "energy_reference": "no intervention",
            "energy_efficiency": "efficiency only",
            "energy_invariant": "invariant",
            "demand_y0_deviation": "y[0] deviation",
        }
    )
    print(shown.to_string(index=False, float_format=fmt))
    mean = summary["mean_energy"]
    verdict = "backfire everywhere" if summary["backfire_everywhere"] else "no backfire everywhere"
    saved = (
        "saves energy everywhere"
        if summary["saving_everywhere"]
        else "does not save energy everywhere"
    )
    print(
        f"\nmean energy use: {fmt(mean['reference'])} without intervention, "
        f"{fmt(mean['efficiency'])} with the efficiency gain alone ({verdict}), "
        f"{fmt(mean['invariant'])} with the invariant intervention (it {saved})"
    )
    print("\nwrote:")
    for path in written:
        print(f"  {path}")
