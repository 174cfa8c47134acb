"""``pyro-causal-eq reduce``: targeted causal reduction of a built-in simulator.

Simulates shift interventions on a simulator of :mod:`pyro_causal_eq.simulators`, fits a
linear TCR (:func:`pyro_causal_eq.reduction.fit`), prints a summary (fit record, the largest
weights of the learned maps and, where the simulator knows it, the alignment with the
analytic reduction) and writes ``reduction.nc``, ``maps.csv`` and ``summary.json`` to
``--out`` (all or nothing, each file atomically).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .output import float64, fmt, write_folder

SIMULATORS = ("chain", "star", "random", "two-branch", "leontief", "point-masses", "double-well")

EXAMPLES = """\
examples:
  pyro-causal-eq reduce                                # 8-variable chain, analytic check
  pyro-causal-eq reduce --simulator random --nodes 10 --interventions 2000 --seed 1
  pyro-causal-eq reduce --simulator two-branch --causes 2 --eta-g 1   # one cause per branch
  pyro-causal-eq reduce --simulator leontief --nodes 6 --out tcr_leontief
  pyro-causal-eq reduce --simulator double-well --steps 300  # no analytic solution

outputs (in --out): reduction.nc (maps, high-level model, losses; xarray/netCDF),
maps.csv (one row per low-level variable), summary.json (fit record and alignment).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``reduce`` subcommand on an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "reduce",
        help="targeted causal reduction (TCR) of a built-in simulator",
        description="Learn a linear high-level cause Z = τᵀX of a simulator's target from "
        "shift interventions (Kekić, Schölkopf & Besserve), and compare it with the analytic "
        "reduction where the simulator knows it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--simulator", choices=SIMULATORS, default="chain", help="(default chain)")
    parser.add_argument(
        "--nodes", type=int, default=8, help="variables (chain/star/random) or sectors (leontief)"
    )
    parser.add_argument("--causes", type=int, default=1, help="high-level causes n (default 1)")
    parser.add_argument("--interventions", type=int, default=1000, help="interventions I")
    parser.add_argument("--samples", type=int, default=32, help="samples S per intervention")
    parser.add_argument("--steps", type=int, default=None, help="optimizer iterations")
    parser.add_argument("--lr", type=float, default=None, help="learning rate")
    parser.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    parser.add_argument("--eta-h", type=float, default=0.0, help="homogeneity weight (eq. 9)")
    parser.add_argument(
        "--eta-g", type=float, default=0.0, help="group-sparsity weight (eq. 18; two-branch)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of simulator and fit")
    parser.add_argument("--top", type=int, default=8, help="rows of the weight table")
    parser.add_argument("--out", default="reduce_results", metavar="DIR", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(_run=run)
    return parser


def build_simulator(name: str, nodes: int, seed: int):
    """The simulator ``name`` and its analytic ``(τ, ω)`` (or ``None``)."""
    import torch

    from .. import simulators

    if nodes < 2:
        raise ValueError(f"--nodes must be at least 2, got {nodes}")
    if name in ("chain", "star", "random"):
        sim = getattr(simulators.LinearGaussianSCM, name)(nodes, seed=seed)
        return sim, sim.solution()
    if name == "two-branch":
        first = max(nodes // 2, 1)
        sim = simulators.LinearGaussianSCM.two_branch(first, max(nodes - first - 1, 1), seed=seed)
        return sim, sim.solution()
    if name == "leontief":
        gen = torch.Generator().manual_seed(seed)
        A = 0.8 * torch.rand(nodes, nodes, generator=gen, dtype=torch.float64) / nodes
        r = torch.rand(nodes, generator=gen, dtype=torch.float64)
        sim = simulators.LeontiefEconomy(A, r)
        return sim, sim.solution()
    if name == "point-masses":
        sim = simulators.PointMasses()
        return sim, sim.exact_reduction()
    return simulators.DoubleWell(), None


def variable_names(sim, n: int) -> list[str]:
    """Readable names of the ``n`` low-level variables of a simulator."""
    from .. import simulators

    if isinstance(sim, simulators.LeontiefEconomy):
        k = sim.n_sectors
        return [f"demand y{j}" for j in range(k)] + [f"output x{j}" for j in range(k)]
    if isinstance(sim, simulators.DoubleWell):
        times = [f"{float(t):.4g}" for t in sim.times]
        return [f"x(t={t})" for t in times] + [f"v(t={t})" for t in times]
    if isinstance(sim, simulators.PointMasses):
        return [
            f"v{axis}[mass {m}, step {step + 1}]"
            for step in range(sim.n_forced)
            for m in range(sim.n_masses)
            for axis in ("x", "y")
        ][:n]
    names = [f"X{k}" for k in range(n)]
    for k in (sim.tau0 != 0).nonzero().flatten().tolist() if hasattr(sim, "tau0") else []:
        names[k] += " (target)"
    return names


def run(args) -> int:
    """Run the ``reduce`` subcommand; returns the exit code."""
    for label, value in (("--causes", args.causes), ("--interventions", args.interventions)):
        if value < 1:
            raise ValueError(f"{label} must be at least 1, got {value}")
    if args.samples < 2:
        raise ValueError(f"--samples must be at least 2, got {args.samples}")
    with float64():
        return _run(args)


def _run(args) -> int:
    import pyro

    from ..reduction import TCRLoss, fit

    sim, analytic = build_simulator(args.simulator, args.nodes, args.seed)
    groups = getattr(sim, "groups", None)
    if args.eta_g and groups is None:
        raise ValueError(
            f"--eta-g needs a simulator with groups (two-branch), not {args.simulator}"
        )
    loss = TCRLoss(eta_h=args.eta_h, eta_g=args.eta_g, groups=groups if args.eta_g else None)
    pyro.clear_param_store()
    result = fit(
        sim, n_interventions=args.interventions, n_samples=args.samples, n_causes=args.causes,
        steps=args.steps, lr=args.lr, seed=args.seed, progress=not args.no_progress, loss=loss,
        optimizer=args.optimizer,
    )  # fmt: skip
    summary = _summary(args, sim, result, analytic)
    ds = _dataset(result, analytic, summary)
    table = _table(result, analytic, variable_names(sim, int(result.tau.shape[-1])))
    written = write_folder(
        args.out,
        {
            "reduction.nc": lambda tmp: ds.to_netcdf(tmp),
            "maps.csv": lambda tmp: table.to_csv(tmp, index=False),
            "summary.json": lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)),
        },
    )
    _print(summary, table, args.top, written)
    return 0


def _effective(result):
    """The maps of the effective cause ``aᵀZ`` (``a @ T``, ``a @ W``)."""
    return result.a @ result.tau, result.a @ result.omega


def _summary(args, sim, result, analytic) -> dict:
    from ..reduction import abs_cosine

    tau, omega = _effective(result)
    summary = {
        "simulator": args.simulator,
        "low_level_variables": int(result.tau.shape[-1]),
        "interventions": args.interventions,
        "samples": args.samples,
        "causes": args.causes,
        "seed": args.seed,
        "optimizer": args.optimizer,
        "steps": result.steps,
        "converged": bool(result.converged),
        "loss": float(result.losses[-1]) if result.losses else float("nan"),
        "seconds": round(result.seconds, 3),
        "mechanism": {"a": result.a.tolist(), "b": float(result.b), "sigma": float(result.sigma_y)},
    }
    if analytic is not None:
        summary["alignment"] = {
            "tau": float(abs_cosine(tau, analytic[0])),
            "omega": float(abs_cosine(omega, analytic[1])),
        }
    return summary


def _dataset(result, analytic, summary):
    ds = result.to_xarray()
    if analytic is not None:
        ds["tau_analytic"] = ("low", analytic[0].numpy())
        ds["omega_analytic"] = ("intervention", analytic[1].numpy())
    for key in ("simulator", "interventions", "samples", "seed", "optimizer"):
        ds.attrs[key] = summary[key]
    for key, value in summary.get("alignment", {}).items():
        ds.attrs[f"alignment_{key}"] = value
    return ds


def _table(result, analytic, names: list[str]):
    import pandas as pd
    import torch

    def unit(v):  # sign and scale are arbitrary: normalize to max |v| = 1, largest positive
        v = v.detach()
        peak = v[v.abs().argmax()]
        return v / peak if float(peak) != 0 else v

    tau, omega = _effective(result)
    n = tau.shape[-1]
    columns = {"variable": names, "tau": unit(tau).tolist()}
    if omega.shape[-1] == n:
        columns["omega"] = unit(omega).tolist()
    if analytic is not None:
        columns["tau_analytic"] = unit(analytic[0]).tolist()
        if analytic[1].shape[-1] == n:
            columns["omega_analytic"] = unit(analytic[1]).tolist()
    table = pd.DataFrame(columns)
    weight = table[[c for c in ("tau", "omega") if c in table]].abs().max(axis=1)
    order = torch.tensor(weight.to_numpy()).argsort(descending=True, stable=True)
    return table.iloc[order.numpy()].reset_index(drop=True)


def _print(summary: dict, table, top: int, written) -> None:
    state = "converged" if summary["converged"] else "not converged (raise --steps)"
    print(
        f"TCR of the {summary['simulator']} simulator: {summary['low_level_variables']} "
        f"low-level variables, {summary['interventions']} interventions x "
        f"{summary['samples']} samples, {summary['causes']} cause(s), seed {summary['seed']}"
    )
    print(
        f"fit ({summary['optimizer']}): {summary['steps']} iterations, {state}, "
        f"loss {fmt(summary['loss'])}, {fmt(summary['seconds'])} s"
    )
    if "alignment" in summary:
        align = summary["alignment"]
        print("alignment with the analytic reduction (|cosine|; 1 = equal up to scale):")
        for key, label in (
            ("tau", "tau   (reduction map, Z = tau . X)"),
            ("omega", "omega (intervention map, omega(i) = omega . i)"),
        ):
            print(f"  {label + ':':<50}{align[key]:.6f}")
    else:
        print("no analytic reduction is known for this simulator")
    print(f"\nlargest weights (each map scaled to max |weight| = 1), top {top}:")
    print(table.head(top).to_string(index=False, float_format=fmt))
    print("\nwrote:")
    for path in written:
        print(f"  {path}")
