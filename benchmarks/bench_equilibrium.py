"""Forward + implicit backward of a Leontief equilibrium ``x = diag(α)(A x + y)`` with the
gradient in ``α``, through ``pce.do(actions={"x": pce.Scale(α)})`` on a ``pce.equilibrate``
model, against ``torch.linalg.solve`` + autograd, side by side in one process (one thread,
float64). Also a nonlinear cyclic system (200 nodes): Anderson vs Picard vs Newton.

Usage: ``python benchmarks/bench_equilibrium.py [--repeats 7] [--quick]``. Writes
``benchmarks/results/equilibrium.{json,md}`` (``--quick``: small random tables only, no files).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.optimize  # noqa: E402
import torch  # noqa: E402
from pyro import poutine  # noqa: E402

import pyro_causal_eq as pce  # noqa: E402
from pyro_causal_eq.internals.atomic import atomic_write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("PCE_SHARED_DATA", HERE.parents[1] / "shared" / "data")) / "useeio"
REAL = {
    "GAEEIOv1.0-s-20": ["2020_US-GA_Production_Domestic", "2020_RoUS_Production_Domestic"],
    "USEEIOv2.0.1-411": ["2012_US_Production_Domestic"],
}


def load_useeio(folder: Path, demands: list[str]):
    """``A_d``, the summed final demand ``y`` and the GHG row of ``D`` of a USEEIO model."""
    A = torch.tensor(json.loads((folder / "matrix" / "A_d.json").read_text()))
    sectors = json.loads((folder / "sectors.json").read_text())
    index = {s["id"]: s["index"] for s in sectors}
    y = torch.zeros(len(sectors))
    for demand in demands:
        for entry in json.loads((folder / "demands" / f"{demand}.json").read_text()):
            y[index[entry["sector"]]] += entry["amount"]
    indicators = json.loads((folder / "indicators.json").read_text())
    ghg = next(i["index"] for i in indicators if i.get("code") == "GHG")
    c = torch.tensor(json.loads((folder / "matrix" / "D.json").read_text())[ghg])
    return A, y, c


def perron_root(A: torch.Tensor, iterations: int = 500) -> float:
    """Spectral radius of a non-negative matrix (power iteration on the Perron vector)."""
    v = torch.ones(A.shape[0])
    for _ in range(iterations):
        w = A @ v
        v = w / w.norm()
    return float(v @ (A @ v) / (v @ v))


def random_table(n: int, rho: float, seed: int):
    """A dense non-negative table (entries uniform on [0, 1]) scaled to Perron root ``rho``,
    a positive demand and positive impact intensities."""
    g = torch.Generator().manual_seed(seed)
    A = torch.rand(n, n, generator=g)
    A *= rho / perron_root(A)
    return A, torch.rand(n, generator=g) + 0.1, torch.rand(n, generator=g)


def signed_table(n: int, rho: float, seed: int):
    """A stress case that is not an input-output table: i.i.d. normal entries scaled to
    spectral radius ``rho`` (eigenvalues fill a disc, so no Krylov or Anderson acceleration
    beats plain iteration)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g)
    A *= rho / float(torch.linalg.eigvals(A).abs().max())
    return A, torch.rand(n, generator=g) + 0.1, torch.rand(n, generator=g)


def baseline(A, y, c, alpha):
    """Dense solve ``(I - diag(α) A) x = diag(α) y`` and autograd."""
    alpha = alpha.detach().requires_grad_()
    M = torch.eye(len(y)) - alpha.unsqueeze(-1) * A
    x = torch.linalg.solve(M, alpha * y)
    (c @ x).backward()
    return x.detach(), alpha.grad


def lu_baseline(A, y, c, alpha):
    """The strong baseline: one dense LU of ``I - diag(α) A`` (``scipy.linalg.lu_factor``) and
    two ``lu_solve``: ``x`` and the analytic adjoint ``λ = (I - diag(α) A)⁻ᵀ c``, whence
    ``dL/dα = λ ⊙ (A x + y)``. Arguments are numpy arrays."""
    M = -alpha[:, None] * A
    M[np.diag_indices_from(M)] += 1.0
    lu = scipy.linalg.lu_factor(M, overwrite_a=True, check_finite=False)
    x = scipy.linalg.lu_solve(lu, alpha * y, check_finite=False)
    adjoint = scipy.linalg.lu_solve(lu, c, trans=1, check_finite=False)
    return x, adjoint * (A @ x + y)


def leontief_model(A, y):
    def model():
        return pce.equilibrate("io", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(len(y))})

    return model


def product(A, y, c, alpha):
    """The product path: ``pce.do`` with a Scale action on a ``pce.equilibrate`` model."""
    alpha = alpha.detach().requires_grad_()
    with pce.do(actions={"x": pce.Scale(alpha)}):
        x = leontief_model(A, y)()["x"]
    (c @ x).backward()
    return x.detach(), alpha.grad


def pyro_floor(A, y, alpha, x_star):
    """The fixed cost of the product path without any solving: ``pce.do`` + ``pce.equilibrate``
    started at the solution (no iteration, no factorization, no stability certificate),
    without gradient."""
    with torch.no_grad(), pce.do(actions={"x": pce.Scale(alpha)}):
        mechanisms = {"x": lambda x: A @ x + y}
        return pce.equilibrate("io", mechanisms, init={"x": x_star}, check="never")["x"]


def relative_error(a, b) -> float:
    return float((a - b).norm() / b.norm())


def time_pair(fns, repeats: int, best: list | None = None) -> list[float]:
    """Median wall times of several functions, interleaved (warm-up first); the minima are
    appended to ``best`` when given (less sensitive to other load on a shared machine)."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    if best is not None:
        best.extend(min(t) for t in times)
    return [statistics.median(t) for t in times]


def leontief_case(name, A, y, c, alpha, repeats):
    n = len(y)
    radius = float(torch.linalg.eigvals(alpha[:, None] * A).abs().max()) if n <= 1000 else None
    x_ref, g_ref = baseline(A, y, c, alpha)
    x, g = product(A, y, c, alpha)
    with poutine.trace() as tracer, torch.no_grad(), pce.do(actions={"x": pce.Scale(alpha)}):
        leontief_model(A, y)()
    info = tracer.trace.nodes["x"]["infer"]["equilibrium"]
    arrays = [t.numpy() for t in (A, y, c, alpha)]
    x_lu, g_lu = lu_baseline(*arrays)
    minima: list[float] = []
    x_star = x_ref.clone()
    t_base, t_lu, t_pce, t_floor = time_pair(
        [
            lambda: baseline(A, y, c, alpha),
            lambda: lu_baseline(*arrays),
            lambda: product(A, y, c, alpha),
            lambda: pyro_floor(A, y, alpha, x_star),
        ],
        repeats if n > 500 else max(repeats, 200),  # ms-scale cases: many more repeats
        minima,
    )
    row = {
        "case": name,
        "n": n,
        "rho": radius,
        "baseline_ms": 1e3 * t_base,
        "pce_ms": 1e3 * t_pce,
        "ratio": t_pce / t_base,
        "best_ratio": minima[2] / minima[0],
        "lu_ms": 1e3 * t_lu,
        "floor_ms": 1e3 * t_floor,
        "ratio_lu": t_pce / t_lu,
        "best_ratio_lu": minima[2] / minima[1],
        "handovers": [f"{h['from']}->{h['to']} @{h['iteration']}" for h in info["handovers"]],
        "err_grad_lu_vs_torch": relative_error(torch.from_numpy(g_lu), g_ref),
        "solver": info["solver"],
        "iterations": info["iterations"],
        "err_x": relative_error(x, x_ref),
        "err_grad": relative_error(g, g_ref),
    }
    # targets against the LU adjoint: ≤ 1.5x up to 1000 sectors, ≥ 4x faster at 5000
    row["target"] = 0.25 if n >= 5000 else 1.5
    row["met"] = bool(
        row["err_x"] <= 1e-10 and row["err_grad"] <= 1e-10 and row["ratio_lu"] <= row["target"]
    )
    return row


def nonlinear_rows(n: int, repeats: int, kind: str, seed: int = 0):
    """``x = tanh(W x + b)``: iterations and forward + backward (gradient in ``b``) time per
    solver, and the error against ``scipy.optimize.root``. ``kind="gaussian"``: ``W`` with
    i.i.d. normal entries scaled to ``||W||₂ = 0.9`` (a disc of eigenvalues, where acceleration
    cannot beat plain iteration); ``kind="nonnegative"``: uniform entries scaled to Perron root
    0.95 (one dominant mode, as in input-output systems)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        W = torch.randn(n, n, generator=g)
        W *= 0.9 / torch.linalg.matrix_norm(W, ord=2)
        b0 = torch.randn(n, generator=g)
    else:
        W = torch.rand(n, n, generator=g)
        W *= 0.95 / perron_root(W)
        b0 = 0.1 * torch.randn(n, generator=g)
    reference = scipy.optimize.root(
        lambda v: v - np.tanh(W.numpy() @ v + b0.numpy()), np.zeros(n), tol=1e-14
    ).x
    rows = []
    for handler in (pce.Anderson, pce.Picard, pce.Newton):

        def run(handler=handler):
            b = b0.clone().requires_grad_()
            with handler():
                x = pce.equilibrate(
                    "tanh", {"x": lambda x: torch.tanh(W @ x + b)}, init={"x": torch.zeros(n)}
                )["x"]
            x.sum().backward()
            return x.detach(), b.grad

        x, grad = run()
        with poutine.trace() as tracer, torch.no_grad(), handler():
            pce.equilibrate(
                "tanh", {"x": lambda x: torch.tanh(W @ x + b0)}, init={"x": torch.zeros(n)}
            )
        (t,) = time_pair([run], repeats)
        rows.append({
            "system": kind,
            "solver": handler.name,
            "n": n,
            "iterations": tracer.trace.nodes["x"]["infer"]["equilibrium"]["iterations"],
            "ms": 1e3 * t,
            "err_x_vs_scipy": float(
                np.linalg.norm(x.numpy() - reference) / np.linalg.norm(reference)
            ),
            "grad_norm": float(grad.norm()),
        })  # fmt: skip
    return rows


def markdown(command, rows, nonlinear) -> str:
    lines = [
        f"`{command}`",
        "",
        "Equilibrium solve + implicit gradient. Leontief `x = diag(α)(A x + y)` at `α = 1` "
        "(random tables: also `α = 0.99/0.95` on the ρ = 0.95 tables, pushing ρ to 0.99), "
        "objective `cᵀx` (real tables: GHG row of `D`), "
        'gradient in `α` through `pce.do(actions={"x": pce.Scale(α)})` on `pce.equilibrate`, '
        "default solver; baselines `torch.linalg.solve` + autograd and (the strong one) "
        "`scipy.linalg.lu_factor` + two `lu_solve` (solution and analytic adjoint "
        "`λ = (I - diag(α)A)⁻ᵀ c`, `dL/dα = λ ⊙ (A x + y)`). Median wall time of "
        "interleaved repeats after warm-up (best-of ratio: ratio of the minima, less sensitive "
        "to other jobs on the shared 2-core machine), one thread, float64. Errors are "
        "relative (2-norm) to the baseline. Random tables are dense, non-negative (uniform "
        "entries) and scaled to Perron root ρ, like input-output tables; the two `stress` rows "
        "are not: signed normal entries whose eigenvalues fill a disc of radius ρ, the worst "
        "case for iterative solvers. Targets (issue 9): errors ≤ 1e-10; time ≤ 1.5× the LU "
        "adjoint up to 1000 sectors (stress rows included), ≥ 4× faster than it (ratio ≤ "
        "0.25) at 5000.",
        "",
        "| case | n | ρ | torch.solve ms | LU adjoint ms | pce ms | ratio vs torch | ratio vs LU "
        "| best-of ratio vs LU | Pyro floor ms | solver (iterations, hand-overs) | rel. err x "
        "| rel. err grad | target met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|:---:|",
    ]
    for r in rows:
        rho = f"{r['rho']:.3f}" if r["rho"] is not None else r.get("rho_nominal", "")
        lines.append(
            f"| {r['case']} | {r['n']} | {rho} | {r['baseline_ms']:.2f} | {r['lu_ms']:.2f} | "
            f"{r['pce_ms']:.2f} | {r['ratio']:.2f} | {r['ratio_lu']:.2f} | "
            f"{r['best_ratio_lu']:.2f} | {r['floor_ms']:.2f} | {r['solver']} ({r['iterations']}"
            f"{', ' + ', '.join(r['handovers']) if r['handovers'] else ''}) | "
            f"{r['err_x']:.1e} | {r['err_grad']:.1e} | {_verdict(r['met'])} |"
        )
    lines += [
        "",
        "How the default gets there: the core only sees the map `F` (mechanisms behind "
        "`pce.do` and Pyro effect handlers), but it traces `F`'s torch operations, carrying "
        "each intermediate's Jacobian as a matrix (`A @ x` contributes `A` itself, the Scale "
        "action scales rows), so `∂F/∂x` costs `O(n²)` instead of `n` vector-Jacobian "
        "products (`2n³` flops). Single systems up to 600 scalars start with Newton: `I - J` "
        "is formed in the traced Jacobian's memory and factored once (from 512 scalars in "
        "float32, refined to float64 accuracy against the float64 matrix, as LAPACK's "
        "`dsgesv`), the traced Jacobian is checked by one plain evaluation (`F(x + u) - F(x) "
        "= J u` for an affine map), and the backward pass reuses the factors. Above 600 "
        "scalars Anderson hands over to Newton as soon as "
        "its observed rate predicts more than `n / 50` further iterations (the `stress` "
        "rows, at iteration 5). `Pyro floor` is the cost of the same call started at the "
        "solution, without gradient or stability certificate (Pyro messages, `pce.do`, "
        "validation, the traced probe of `∂F/∂x`, no iteration, no factorization): on the "
        "146-sector table it is already "
        "about twice the LU adjoint's time, so nothing behind this API meets 1.5× there; the "
        "rest of the gap on the real tables is "
        "the differentiable implicit-gradient wiring (exact second derivatives), the trace "
        "and the stability certificate. From 1000 sectors on input-output-like tables, "
        "`O(n²)` Anderson iterations beat the `O(n³)` LU.",
        "",
        f"Nonlinear cyclic system `x = tanh(W x + b)`, {nonlinear[0]['n']} nodes, forward + "
        "implicit backward (gradient in `b`), error against `scipy.optimize.root`; `gaussian`: "
        "i.i.d. normal `W` with `||W||₂ = 0.9` (eigenvalues fill a disc: no acceleration "
        "possible), `nonnegative`: uniform `W ≥ 0` with Perron root 0.95 (one dominant mode):",
        "",
        "| W | solver | iterations | ms | rel. err x vs scipy |",
        "|---|---|---:|---:|---:|",
    ]
    for r in nonlinear:
        lines.append(
            f"| {r['system']} | {r['solver']} | {r['iterations']} | {r['ms']:.2f} | "
            f"{r['err_x_vs_scipy']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def _verdict(met) -> str:
    return "n/a" if met is None else ("yes" if met else "no")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke run, writes nothing")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    rows = []
    if not args.quick:
        for model, demands in REAL.items():
            folder = DATA / model
            if not folder.exists():
                print(f"shared data {folder} is absent; skipping", file=sys.stderr)
                continue
            A, y, c = load_useeio(folder, demands)
            rows.append(leontief_case(f"{model} (real)", A, y, c, torch.ones(len(y)), args.repeats))
            print(rows[-1], flush=True)
    sizes = [(300, 3)] if args.quick else [(1000, args.repeats), (5000, max(3, args.repeats // 2))]
    for n, repeats in sizes:
        for rho, scale in ((0.5, 1.0), (0.95, 1.0), (0.95, 0.99 / 0.95)):
            A, y, c = random_table(n, rho, seed=n)
            label = f"random ρ={rho}" + (" · α→ρ 0.99" if scale != 1.0 else "")
            row = leontief_case(label, A, y, c, torch.full((n,), scale), repeats)
            row["rho_nominal"] = f"{rho * scale:.2f}"
            rows.append(row)
            print(row, flush=True)
            del A
    if not args.quick:  # stress rows, outside the targets
        for rho in (0.5, 0.95):
            A, y, c = signed_table(1000, rho, seed=1)
            row = leontief_case(f"stress: signed ρ={rho}", A, y, c, torch.ones(1000), args.repeats)
            rows.append(row)
            print(row, flush=True)
    nonlinear = [
        row
        for kind in ("gaussian", "nonnegative")
        for row in nonlinear_rows(50 if args.quick else 200, args.repeats, kind)
    ]
    for r in nonlinear:
        print(r, flush=True)
    command = "OMP_NUM_THREADS=1 python benchmarks/bench_equilibrium.py" + " ".join(
        [""] + [a for a in (argv if argv is not None else sys.argv[1:])]
    )
    text = markdown(command, rows, nonlinear)
    print(text)
    if not args.quick:
        out = Path(args.out)
        meta = {
            "machine": platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "command": command,
        }
        payload = {"meta": meta, "leontief": rows, "nonlinear": nonlinear}
        atomic_write_text(out / "equilibrium.json", json.dumps(payload, indent=2))
        atomic_write_text(out / "equilibrium.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
