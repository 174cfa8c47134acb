"""Benchmark: learning invariant and compartmentalized interventions (paper Sec. 4-5).

Side by side in one process, 1 thread:
- rebound model (invariant y[0] via the price p[0], efficiency x0.6, A_01 ~ U[0.01, 0.19]):
  ours (`learn_invariant_intervention`: MLP 12x12, Adam then Levenberg-Marquardt) vs the
  paper-style protocol (MLP 32x32, Adam only) vs the plain Lie intervention (no invariance);
  energy use at A_01 = 0.1 against the exact "tax" solution (scipy root with p[0] held);
- two-compartment Leontief model (u = 0.8 on a1, v = 1.2 on a2; demands ~ U[0.8, 1.2]):
  ours for fixed (u, v), ours over a range of (u, v) with the separation check of Fig. 5,
  vs plain Lie interventions.
Invariance error = max relative deviation of the invariant node over 128 held-out draws, in
the deployed intervened system.

Run: OMP_NUM_THREADS=1 python benchmarks/bench_invariance.py [--small]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import root

import pyro_causal_eq as pce
from pyro_causal_eq.economics.compartments import two_compartment_model
from pyro_causal_eq.economics.rebound import ENERGY, rebound_model
from pyro_causal_eq.internals.atomic import atomic_write_text
from pyro_causal_eq.invariance import (
    Compartment,
    InvariantOptions,
    learn_compartmentalized_interventions,
    learn_invariant_intervention,
)
from pyro_causal_eq.invariance.parameters import sample_parameters

RESULTS = Path(__file__).resolve().parent / "results"


def convention(options: dict) -> dict:
    """``steps`` (and lr) as arguments, the rest as ``InvariantOptions`` (no Prop. 3 check)."""
    options = dict(options)
    common = {k: options.pop(k) for k in ("steps", "lr") if k in options}
    return dict(common, options=InvariantOptions(check=False, **options))


def uniform(lo, hi):
    return torch.distributions.Uniform(torch.tensor(float(lo)), torch.tensor(float(hi)))


def lie_error(model, actions, node, index, parameters, n=128, seed=7919):
    values = sample_parameters(parameters, n, generator_seed=seed)
    with torch.no_grad():
        ref = model(**values)[node]
        out = pce.do(model, actions=actions)(**values)[node]
    if index is not None:
        ref, out = ref[..., index], out[..., index]
    return float(((out - ref).abs() / ref.abs()).max())


def exact_tax_energy(a01=0.1, factor=0.6):
    A = np.array([[0.0, a01, 0.0], [0.5, 0.0, 0.0], [0.1, 0.2, 0.0]])
    p0 = 0.5 / (1 - 0.5 * a01)
    Ae = A.copy()
    Ae[ENERGY] *= factor

    def residual(z):
        p, y, x = z[:3], z[3:6], z[6:]
        fp = Ae.T @ p + Ae[ENERGY]
        fp[0] = p0
        d = 1.42 / (np.exp(10 * (p / 0.4 - 1)) + 1)
        return np.concatenate([p - fp, y - d, x - (Ae @ x + y)])

    return float(root(residual, np.zeros(9), tol=1e-14).x[6 + ENERGY])


def rebound(small: bool) -> list[dict]:
    params = {"a01": uniform(0.01, 0.19)}
    action = {"efficiency": pce.Scale(0.6)}
    rows = []
    configs = {
        "ours: MLP 12x12, 128 draws, Adam 200 + LM 30": dict(),
        "paper-style: MLP 32x32, 128 draws, Adam (lr 1e-2) 1500 steps": dict(
            hidden=(32, 32), steps=1500, lm_steps=0
        ),
    }
    if small:
        configs = {
            "ours (small): MLP 12x12, 48 draws, LM 10": dict(num_train=48, steps=0, lm_steps=10),
            "paper-style (small): MLP 32x32, Adam only": dict(
                hidden=(32, 32), steps=150, lm_steps=0
            ),
        }
    chosen = torch.tensor([0.1])
    for label, options in configs.items():
        start = time.perf_counter()
        result = learn_invariant_intervention(
            rebound_model, action, "y[0]", "p[0]", params, **convention(options)
        )
        seconds = time.perf_counter() - start
        with torch.no_grad(), result.handler():
            energy = float(rebound_model(a01=chosen)["x"][0, ENERGY])
        rows.append(
            dict(
                task="rebound",
                method=label,
                error=result.invariance_error,
                seconds=seconds,
                energy=energy,
            )
        )
    with torch.no_grad():
        lie = float(pce.do(rebound_model, actions=action)(a01=chosen)["x"][0, ENERGY])
        ref = float(rebound_model(a01=chosen)["x"][0, ENERGY])
    rows.append(
        dict(
            task="rebound",
            method="plain Lie intervention (no invariance)",
            error=lie_error(rebound_model, action, "y", 0, params),
            seconds=0.0,
            energy=lie,
        )
    )
    rows.append(
        dict(
            task="rebound",
            method="exact tax (scipy root, p[0] held)",
            error=0.0,
            seconds=0.0,
            energy=exact_tax_energy(),
        )
    )
    rows.append(dict(task="rebound", method="unintervened", error=0.0, seconds=0.0, energy=ref))
    return rows


def compartments(small: bool) -> tuple[list[dict], dict]:
    params = {"demand1": uniform(0.8, 1.2), "demand2": uniform(0.8, 1.2)}
    u, v = pce.Scale(0.8), pce.Scale(1.2)
    rows = []
    fixed = {
        "1": Compartment(["a1", "b1", "c1"], {"a1": u}, "b1"),
        "2": Compartment(["a2", "b2", "c2"], {"a2": v}, "b2"),
    }
    options = dict(num_train=48, lm_steps=10, steps=0) if small else dict()
    start = time.perf_counter()
    result = learn_compartmentalized_interventions(
        two_compartment_model, fixed, params, **convention(options)
    )
    rows.append(
        dict(
            task="compartments, fixed u=0.8, v=1.2",
            method="ours: MLP 12x12, joint" + (" (small)" if small else ""),
            error=result.invariance_error,
            seconds=time.perf_counter() - start,
        )
    )
    lie = max(
        lie_error(two_compartment_model, {"a1": u, "a2": v}, node, None, params)
        for node in ("b1", "b2")
    )
    rows.append(
        dict(
            task="compartments, fixed u=0.8, v=1.2",
            method="plain Lie interventions",
            error=lie,
            seconds=0.0,
        )
    )
    log_range = uniform(math.log(0.75), math.log(1.3))
    ranged = {
        k: Compartment(
            c.nodes,
            c.intervention,
            c.invariant,
            intervention_range={next(iter(c.intervention)): log_range},
        )
        for k, c in fixed.items()
    }
    options = (
        dict(num_train=64, lm_steps=10, steps=0)
        if small
        else dict(num_train=256, steps=200, lm_steps=40)
    )
    start = time.perf_counter()
    result = learn_compartmentalized_interventions(
        two_compartment_model, ranged, params, **convention(options)
    )
    seconds = time.perf_counter() - start
    values = sample_parameters(params, 32, generator_seed=3)
    grid = {name: [pce.Scale(s) for s in (0.8, 0.9, 1.1, 1.25)] for name in ("a1", "a2")}
    report = result.separation(values, grid)
    leak = 0.0
    with torch.no_grad():
        base = two_compartment_model(**values)
        for name, others in (("a1", ("a2", "b2", "c2")), ("a2", ("a1", "b1", "c1"))):
            for element in grid[name]:
                out = pce.do(two_compartment_model, actions={name: element})(**values)
                for node in others:
                    change = ((out[node] - base[node]) / base[node]).abs().max()
                    leak = max(leak, float(change))
    rows.append(
        dict(
            task="compartments, u, v in [0.75, 1.3]",
            method="ours: MLP 12x12 + log u" + (" (small)" if small else ", 256 draws, LM 40"),
            error=result.invariance_error,
            seconds=seconds,
            cross=report.cross,
        )
    )
    rows.append(
        dict(
            task="compartments, u, v in [0.75, 1.3]",
            method="plain Lie interventions",
            error=float("nan"),
            seconds=0.0,
            cross=leak,
        )
    )
    return rows, {"own_change_a1": report.changes["a1"]["a1"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="quick settings (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    warnings.simplefilter("ignore")
    rows = rebound(args.small)
    more, extra = compartments(args.small)
    rows += more
    name = "invariance_small" if args.small else "invariance"
    command = "OMP_NUM_THREADS=1 python benchmarks/bench_invariance.py" + (
        " --small" if args.small else ""
    )
    lines = [
        f"`{command}`",
        "",
        "Invariant interventions, 1 thread. Error = max relative deviation of the invariant "
        "node over 128 held-out parameter draws (deployed intervened system). Energy = x[1] at "
        "A_01 = 0.1, efficiency x0.6. Cross = largest relative change of a node under the "
        "other compartment's intervention (grid u, v in {0.8, 0.9, 1.1, 1.25}).",
        "",
        "| task | method | invariance error | train s | energy use | cross |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        energy = f"{r['energy']:.4f}" if "energy" in r else ""
        cross = f"{r['cross']:.2e}" if "cross" in r else ""
        error = "" if math.isnan(r["error"]) else f"{r['error']:.2e}"
        lines.append(
            f"| {r['task']} | {r['method']} | {error} | {r['seconds']:.1f} | {energy} | {cross} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    atomic_write_text(RESULTS / f"{name}.md", table)
    payload = {"command": command, "rows": rows, "extra": extra, "python": sys.version}
    atomic_write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
