"""The ``pyro-causal-eq tradeoff`` subcommand: GHG / employment trade-off interventions on one
input-output table (netCDF, CSV tables, Pareto plot), or a scenario sweep (``--scenarios
FILE``: tables x regions x draws x λ) serially or on dask.distributed (``--scheduler local
--workers 2``, or a scheduler address)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path


def _parse_lambdas(tokens: list[str] | None):
    if tokens is None:
        return None
    values = []
    for token in tokens:
        for part in token.replace(";", ",").split(","):
            if not part.strip():
                continue
            try:
                values.append(float(part))
            except ValueError:
                raise ValueError(f"--lambdas: {part!r} is not a number") from None
    if not values:
        raise ValueError("--lambdas: give at least one value")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data (default: the embedded pymrio test system)")
    data.add_argument("--useeio", metavar="DIR", help="a USEEIO API model folder")
    data.add_argument("--demand", help="USEEIO demand id (default: Production/Domestic)")
    data.add_argument("--exiobase", metavar="ZIP", help="an Exiobase 3 archive or folder")
    data.add_argument("--country", help="country code of the Exiobase archive, e.g. FR")
    data.add_argument("--region", help="region of the pymrio test system (default: all)")
    parser.add_argument(
        "--lambdas",
        nargs="+",
        metavar="L",
        help="trade-off weights (space or comma separated); default: 12 "
        "log-spaced where the trade-off moves",
    )
    parser.add_argument("--num-lambdas", type=int, default=12, help="count of default lambdas")
    parser.add_argument("--ghg", help="GHG indicator name (default: the model's)")
    parser.add_argument("--social", help="social indicator name (default: employment / VA)")
    parser.add_argument("--penalty", choices=("l1", "relative", "l2"), default="l1")
    parser.add_argument("--method", choices=("exact", "gradient", "adam"), default="exact")
    parser.add_argument("--target", choices=("assignment", "demand"), default="assignment")
    parser.add_argument(
        "--branches",
        choices=("local", "bound", "milp"),
        default="milp",
        help="cone search of the exact method (milp: global certificate; local: faster)",
    )
    parser.add_argument("--bounds", nargs=2, type=float, default=(0.0, 2.0), metavar=("LO", "HI"))
    parser.add_argument("--steps", type=int, default=20_000, help="Adam steps (method adam)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--top", type=int, default=10, help="rows of the sector table")
    parser.add_argument("--out", default="tradeoff_results", metavar="DIR", help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep = parser.add_argument_group(
        "scenario sweeps (tables x regions x draws x lambdas; results in OUT/sweep.nc)"
    )
    sweep.add_argument(
        "--scenarios",
        metavar="FILE",
        help="YAML / JSON scenario file: tables, regions, lambdas, draws, noise, options",
    )
    sweep.add_argument(
        "--scheduler",
        metavar="local|ADDRESS",
        help="run the scenarios on dask.distributed: a LocalCluster ('local') or a scheduler "
        "address (tcp://host:8786); default: serially in this process",
    )
    sweep.add_argument("--workers", type=int, help="LocalCluster worker processes")
    sweep.add_argument("--retries", type=int, default=2, help="retries of lost scenarios")


def _load(args):
    from ..economics import IOModel

    if args.useeio and args.exiobase:
        raise ValueError("give either --useeio or --exiobase, not both")
    if args.exiobase:
        if not args.country:
            raise ValueError("--exiobase needs --country (e.g. --country FR)")
        return IOModel.from_exiobase(args.exiobase, args.country)
    if args.country:
        raise ValueError("--country applies to --exiobase only")
    if args.useeio:
        return IOModel.from_useeio(args.useeio, demand=args.demand)
    import pymrio

    return IOModel.from_pymrio(pymrio.load_test(), region=args.region)


def _stage_and_move(out: Path, ds, summary, table, ax) -> list[Path]:
    """Write the result files into a staging folder inside ``out``, then move them in."""
    from ..economics.outputs import atomic_write, write_netcdf

    with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as staging:
        stage = Path(staging)
        write_netcdf(ds, stage / "tradeoff.nc")
        atomic_write(stage / "tradeoff.csv", lambda tmp: summary.to_csv(tmp))
        atomic_write(stage / "alpha.csv", lambda tmp: ds["alpha"].to_pandas().to_csv(tmp))
        atomic_write(stage / "sectors.csv", lambda tmp: table.to_csv(tmp, index=False))
        atomic_write(
            stage / "pareto.png",
            lambda tmp: ax.figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight"),
        )
        written = []
        for name in ("tradeoff.nc", "tradeoff.csv", "alpha.csv", "sectors.csv", "pareto.png"):
            os.replace(stage / name, out / name)
            written.append(out / name)
    return written


def readable_summary(ds, summary, explicit: bool) -> str:
    """The per-λ table in %, with clean numbers, how λ was chosen and repeated designs."""
    import numpy as np

    from ..economics.tradeoff_summary import clean_frame, clean_number

    frame = summary[["ghg_change", "social_change", "objective", "optimality_gap"]].copy()
    frame[["ghg_change", "social_change"]] *= 100
    frame.columns = ["GHG change (%)", "social change (%)", "objective", "optimality gap"]
    text = clean_frame(frame).to_string(float_format=clean_number)
    from ..economics.tradeoff import GRID_NOTE

    note = (
        "given with --lambdas"
        if explicit
        else ds.attrs.get("lambda_grid", GRID_NOTE).replace(
            "lambdas=... (CLI --lambdas)", "--lambdas"
        )
    )
    text += f"\nlambda grid: {note}"
    points = list(
        zip(ds.ghg.values.round(12).tolist(), ds.social.values.round(12).tolist(), strict=True)
    )
    top = int(np.argmax(ds.lam.values))
    if abs(float(ds.ghg_change[top])) > 1e-9 or abs(float(ds.social_change[top])) > 1e-9:
        text += (
            f"\nnote: the largest lambda ({clean_number(float(ds.lam[top]))}) does not reach the "
            f"unintervened point (GHG change {100 * float(ds.ghg_change[top]):.3g} %); add larger "
            "values with --lambdas to see the whole front"
        )
    repeats = len(points) - len(set(points))
    if repeats:
        text += (
            f"\nnote: {repeats} lambda(s) repeat a design of another lambda (the front is "
            "piecewise constant in lambda); choose --lambdas to place points elsewhere"
        )
    return text


def run(args) -> int:
    """Run the trade-off subcommand; returns the exit code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from ..economics import tradeoff
    from ..economics.labels import indicator_label, readable_name
    from ..economics.outputs import (
        pareto_plot,
        sector_table,
        summary_frame,
    )
    from ..economics.tradeoff_summary import clean_frame, clean_number

    torch.set_num_threads(1)
    if args.scenarios:
        from .tradeoff_sweep import run_sweep

        return run_sweep(args)
    if args.scheduler or args.workers:
        raise ValueError("--scheduler and --workers apply to a sweep: give --scenarios FILE")
    lambdas = _parse_lambdas(args.lambdas)
    if args.num_lambdas < 2:
        raise ValueError("--num-lambdas must be at least 2 (the strongest cut and no cut)")
    io = _load(args)
    ghg, social = args.ghg or io.default_ghg, args.social or io.default_social
    for label, name in (("--ghg", ghg), ("--social", social)):
        if name is None:
            raise KeyError(f"{label}: choose an indicator among {io.indicators}")
        io.indicator_index(name)
    print(
        f"model: {io.name}, {io.n} sectors\n"
        f"  GHG:    {indicator_label(ghg, io.units)} [{ghg}]\n"
        f"  social: {indicator_label(social, io.units)} [{social}]"
    )
    result = tradeoff(
        io,
        None if lambdas is None else np.asarray(lambdas),
        ghg,
        social,
        num_lambdas=args.num_lambdas,
        penalty=args.penalty,
        target=args.target,
        bounds=tuple(args.bounds),
        method=args.method,
        steps=args.steps,
        lr=args.lr,
        branches=args.branches,
        progress=not args.no_progress,
    )
    ds = result.to_xarray()
    table = sector_table(ds, top=args.top)
    summary = summary_frame(ds)
    ax = pareto_plot(ds)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    # all files are written into a staging folder next to them first, then moved in: an error
    # while writing leaves no new file behind
    try:
        written = _stage_and_move(out, ds, summary, table, ax)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        plt.close(ax.figure)
    print(readable_summary(ds, summary, explicit=args.lambdas is not None))
    print(f"chosen {result.explain_choice()}")
    social_name = readable_name(social).lower()
    print(
        f"\nsectors with the largest {social_name} reduction at lambda = "
        f"{clean_number(table.attrs['lam'])} (the lambda whose {social_name} change is "
        "closest to -5 %):"
    )
    print(clean_frame(table).to_string(index=False, float_format=clean_number))
    print("\nwrote:")
    for path in written:
        print(f"  {path}")
    return 0
