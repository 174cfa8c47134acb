"""Assemble BENCHMARKS.md from the fragments the benchmark scripts write.

Each ``benchmarks/bench_<name>.py`` writes ``benchmarks/results/<name>.md`` (starting with
the command that produced it) and ``<name>.json``. Run this after the benchmarks::

    python benchmarks/assemble.py
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from pyro_causal_eq.internals.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["equilibrium", "bench_tradeoff", "sparse", "scaling", "invariance", "tcr", "learning"]
TITLES = {
    "equilibrium": "Equilibrium solve and implicit gradient (core)",
    "bench_tradeoff": "GHG / employment trade-off design (economics)",
    "sparse": "Sparse economies: a 9800-sector synthetic MRIO, sparse vs dense LU",
    "scaling": "Scenario sweeps: serial vs LocalCluster, cost growth, Exiobase extrapolation",
    "invariance": "Invariant and compartmentalized interventions",
    "tcr": "Targeted causal reduction",
    "learning": "Learning cyclic SCMs from interventional data",
}


def main() -> None:
    # "*_small" fragments come from the scripts' quick modes (smoke runs), not the benchmarks
    fragments = [
        path
        for path in sorted((ROOT / "benchmarks" / "results").glob("*.md"))
        if not path.stem.endswith("_small")
    ]
    fragments.sort(key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else len(ORDER), p.stem))
    header = [
        "# Benchmarks",
        "",
        "Each section comes from one script in `benchmarks/`, which runs the baseline side by",
        "side with our method in the same process (one thread, float64 unless stated) and",
        "writes the table below plus JSON in `benchmarks/results/`. Re-run a section with the",
        "command at its top, then `python benchmarks/assemble.py`.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}, 1 thread.",
        "",
    ]
    body = [
        f"## {TITLES.get(path.stem, path.stem)}\n\n{path.read_text().strip()}\n"
        for path in fragments
    ]
    text = "\n".join(header) + "\n" + "\n".join(body)
    atomic_write_text(ROOT / "BENCHMARKS.md", text)
    print(f"wrote BENCHMARKS.md from {len(fragments)} fragment(s)")


if __name__ == "__main__":
    main()
