"""Scaling of trade-off sweeps: scenarios per second serially and on a ``LocalCluster`` of 1 and
2 workers (same scenarios, same process starting them), the cost of one scenario as the number
of sectors grows (146, 411, 1000 synthetic block MRIOs; 9800 from ``bench_sparse``), and an
extrapolation on paper of the full Exiobase sweep on N workers.

Usage: ``python benchmarks/bench_scaling.py [--quick]``. Writes
``benchmarks/results/scaling.{json,md}`` (``scaling_small`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from pyro_causal_eq.economics import IOModel, sweep, tradeoff  # noqa: E402
from pyro_causal_eq.internals.atomic import atomic_write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_sparse import synthetic_mrio  # noqa: E402

TABLES = {"test": {"source": "pymrio_test"}}
REGIONS = ["reg1", "reg2", "reg3", "reg4", "reg5", "reg6"]
LAMS = [1.0, 10.0, 100.0]


def sweep_rate(scheduler, draws: int) -> tuple[float, float]:
    """Scenarios per second of one sweep (excluding cluster start-up) and its wall time."""
    start = time.perf_counter()
    sweep(TABLES, REGIONS, LAMS, draws=draws, noise=(0.05, 0.05), branches="local",
          scheduler=scheduler)  # fmt: skip
    wall = time.perf_counter() - start
    return len(REGIONS) * draws / wall, wall


def rates(draws: int) -> dict:
    from distributed import Client, LocalCluster

    sweep_rate(None, 1)  # warm imports and table caches, as for the clusters below
    out = {"serial": sweep_rate(None, draws)}
    for workers in (1, 2):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
        with Client(cluster) as client:
            client.run(lambda: __import__("pyro_causal_eq.economics"))  # warm imports
            sweep_rate(client, 1)  # warm table caches
            out[f"LocalCluster {workers}"] = sweep_rate(client, draws)
        cluster.close()
    return {k: {"scenarios_per_s": r, "wall_s": w} for k, (r, w) in out.items()}


def cost_per_lambda(n_sectors: int) -> float:
    """CPU seconds of one exact λ (local cone search) on a synthetic sparse block MRIO."""
    regions = max(1, n_sectors // 200) if n_sectors >= 400 else 1
    A, y, R = synthetic_mrio(regions, n_sectors // regions, seed=1)
    io = IOModel(A, y, R, indicators=["GHG", "JOBS"])
    start = time.process_time()
    tradeoff(io, [1.0], branches="local", certify=False)
    return time.process_time() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["OMP_NUM_THREADS=1 python benchmarks/bench_scaling.py", *given])
    sizes = [146, 411] if args.quick else [146, 411, 1000]
    result = {"rates": rates(1 if args.quick else args.draws), "cost_per_lambda_s": {}}
    for n in sizes:
        result["cost_per_lambda_s"][n] = cost_per_lambda(n)
        print(f"{n} sectors: {result['cost_per_lambda_s'][n]:.2f} s per λ", flush=True)
    sparse = HERE / "results" / "sparse.json"
    if sparse.exists():
        row = json.loads(sparse.read_text())["rows"]["sparse LU"]
        if "tradeoff_s_per_lam" in row:
            result["cost_per_lambda_s"][9800] = row["tradeoff_s_per_lam"]
    result["extrapolation"] = extrapolate(result)
    stem = "scaling_small" if args.quick else "scaling"
    result["command"] = command
    atomic_write_text(Path(args.out) / f"{stem}.json", json.dumps(result, indent=2))
    atomic_write_text(Path(args.out) / f"{stem}.md", markdown(result))
    print(markdown(result))
    return 0


def extrapolate(r) -> dict:
    """Full Exiobase sweep: 49 regions x 28 years x 12 λ x 100 draws, per-region domestic
    blocks (200 sectors, cost interpolated at 200 from the measured sizes) and the full
    9800-sector MRIO (28 years x 12 λ x 100 draws), on N workers at the measured 2-worker
    parallel efficiency."""
    costs = {int(k): v for k, v in r["cost_per_lambda_s"].items()}
    ns = sorted(costs)
    c200 = float(np.exp(np.interp(np.log(200), np.log(ns), np.log([costs[n] for n in ns]))))
    serial = r["rates"]["serial"]["scenarios_per_s"]
    two = r["rates"]["LocalCluster 2"]["scenarios_per_s"]
    efficiency = min(1.0, two / (2 * serial))
    work = {"domestic blocks (200 sectors)": 49 * 28 * 12 * 100 * c200}
    if 9800 in costs:
        work["full MRIO (9800 sectors)"] = 28 * 12 * 100 * costs[9800]
    return {
        "cost_200_s_per_lambda": c200,
        "efficiency_2_workers": efficiency,
        "cpu_hours": {k: v / 3600 for k, v in work.items()},
        "hours_on": {
            k: {n: v / 3600 / (n * efficiency) for n in (1, 16, 64, 256)} for k, v in work.items()
        },
    }


def markdown(r) -> str:
    rates, ex = r["rates"], r["extrapolation"]
    serial = rates["serial"]["scenarios_per_s"]
    lines = [
        f"`{r['command']}`",
        "",
        "Trade-off scenarios (pymrio test system, one region x one draw, 3 λ, exact with local "
        "cone search) per second, wall clock, after a warm-up run in every mode; cluster start-up "
        "excluded; this machine has 2 cores shared with other jobs, so the ratios are noisy.",
        "",
        "| mode | scenarios / s | vs serial |",
        "|---|---|---|",
    ]
    for name, row in rates.items():
        lines.append(f"| {name} | {row['scenarios_per_s']:.2f} | "
                     f"{row['scenarios_per_s'] / serial:.2f}x |")  # fmt: skip
    lines += ["", "| sectors | CPU s per λ (exact, local) |", "|---|---|"]
    for n, c in r["cost_per_lambda_s"].items():
        lines.append(f"| {n} | {c:.2f} |")
    lines += [
        "",
        "Full Exiobase sweep on paper: 49 regions x 28 years x 12 λ x 100 draws (domestic "
        f"blocks, {ex['cost_200_s_per_lambda']:.2f} s per λ interpolated at 200 sectors) and the "
        "full MRIO per year x λ x draw; measured 2-worker efficiency "
        f"{ex['efficiency_2_workers']:.2f}.",
        "",
        "| sweep | CPU hours | 16 workers (h) | 64 workers (h) | 256 workers (h) |",
        "|---|---|---|---|---|",
    ]
    for name, hours in ex["cpu_hours"].items():
        on = ex["hours_on"][name]
        lines.append(f"| {name} | {hours:.0f} | {on[16]:.1f} | {on[64]:.1f} | {on[256]:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
