"""The linear programs of :mod:`pyro_causal_eq.economics.exact`: the (mixed-integer) LP of one
assignment trade-off over cone patterns, and a robust ``linprog`` (HiGHS dual simplex at tight
tolerances, with fallbacks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp


@dataclass
class ExactSolution:
    """Result of :func:`solve_exact`: factors, the LP's ``x`` and optimal value, status."""

    alpha: np.ndarray
    x: np.ndarray
    value: float
    status: str
    branches: int
    bound: float = -np.inf


def _branch_lp(
    At, yt, u0, wc, we, lam, lo, hi, ambiguous, zb, ubound, sign, time_limit, relax=False
):
    """The (MI)LP in scaled variables ``u`` (outputs), ``t`` (|u - u0|), ``b`` (branches);
    sectors not in ``ambiguous`` keep the cone ``sign``. Without branches it is a plain LP
    solved by the dual simplex to tight tolerances."""
    n = At.shape[0]
    dev = np.flatnonzero(we > 0)
    m, k = dev.size, len(ambiguous)
    cost = np.concatenate([wc, lam * we[dev], np.zeros(k)])
    # objective of order 1e6 at the unintervened point: the solver's absolute gaps and
    # tolerances then stay far below the resolution that matters
    scale = abs(float(wc @ u0)) or float(np.abs(cost).max()) or 1.0
    scale /= 1e6
    cost = cost / scale
    eye = sparse.identity(n, format="csr")
    Asp = sparse.csr_matrix(At)
    rows, lbs, ubs = [], [], []
    big = (hi + max(lo, 0.0)) * zb + np.minimum(ubound, 1e300) + 1e-6
    fixed = np.ones(n, dtype=bool)
    fixed[ambiguous] = False
    for row, offset in ((eye - lo * Asp, -lo * yt), (hi * Asp - eye, hi * yt)):
        # u - lo z >= 0 and hi z - u >= 0 in the cone z >= 0 (reversed in the mirror cone);
        # fixed sectors: sign * (row u + offset) >= 0
        rows.append(sparse.hstack([sparse.diags(sign) @ row, sparse.csr_matrix((n, m + k))]))
        lbs.append(np.where(fixed, -sign * offset, -np.inf))
        ubs.append(np.full(n, np.inf))
        if k:  # b = 1: row u + offset >= 0 ; b = 0: <= 0 (big-M both ways)
            sub, bigk = row[ambiguous], big[ambiguous]
            block = sparse.hstack([sub, sparse.csr_matrix((k, m)), -sparse.diags(bigk)])
            rows += [block, block]
            lbs += [-offset[ambiguous] - bigk, np.full(k, -np.inf)]
            ubs += [np.full(k, np.inf), -offset[ambiguous]]
    if m:
        sel = sparse.csr_matrix((np.ones(m), (np.arange(m), dev)), shape=(m, n))
        tm = sparse.identity(m, format="csr")
        zk = sparse.csr_matrix((m, k))
        rows += [sparse.hstack([sel, -tm, zk]), sparse.hstack([sel, tm, zk])]
        lbs += [np.full(m, -np.inf), u0[dev]]  # u - t <= u0 ; u + t >= u0
        ubs += [u0[dev], np.full(m, np.inf)]
    matrix = sparse.vstack(rows, format="csr")
    lb, ub = np.concatenate(lbs), np.concatenate(ubs)
    var_lb = np.concatenate([-ubound, np.zeros(m), np.zeros(k)])
    var_ub = np.concatenate([ubound, np.full(m, np.inf), np.ones(k)])
    if k and not relax:
        result = milp(
            cost,
            integrality=np.concatenate([np.zeros(n + m), np.ones(k)]),
            bounds=Bounds(var_lb, var_ub),
            constraints=LinearConstraint(matrix, lb, ub),
            options={"time_limit": time_limit, "mip_rel_gap": 1e-9, "presolve": True},
        )
        if result.x is None or result.status != 0:
            raise RuntimeError(f"exact trade-off solver failed: {result.message}")
    else:
        has_lb, has_ub = np.isfinite(lb), np.isfinite(ub)
        result = _linprog(
            cost,
            sparse.vstack([-matrix[has_lb], matrix[has_ub]], format="csr"),
            np.concatenate([-lb[has_lb], ub[has_ub]]),
            np.column_stack([var_lb, var_ub]),
            time_limit,
        )
    branch = result.x[n + m :] if k else np.zeros(0)
    return result.x[:n], float(result.fun) * scale, result.message, branch


def _linprog(cost, A_ub, b_ub, bounds, time_limit):
    """``linprog`` by the dual simplex at tight tolerances, retried with HiGHS's default
    tolerances and then its interior-point method when the simplex stalls on a badly scaled
    problem (seen on the Georgia USEEIO model)."""
    tight = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    for method, options in (("highs-ds", tight), ("highs-ds", {}), ("highs-ipm", {})):
        result = linprog(
            cost,
            A_ub=A_ub,
            b_ub=b_ub,
            bounds=bounds,
            method=method,
            options=dict(options, time_limit=time_limit),
        )
        if result.x is not None and result.status == 0:
            return result
    raise RuntimeError(f"exact trade-off solver failed: {result.message}")


def _solve_demand(A, y, x0, w_c, w_e, lam, lo, hi, time_limit) -> ExactSolution:
    """Final-demand factors: ``x = (I - A)⁻¹ diag(y) α`` is linear in ``α``: a plain LP."""
    if sp.issparse(A):
        raise ValueError(
            "the exact final-demand trade-off forms the dense (I - A)⁻¹: use a dense A, "
            "target='assignment' or method='gradient'"
        )
    n = A.shape[0]
    M = np.linalg.solve(np.eye(n) - A, np.diag(y))
    s = np.maximum(np.abs(x0), 1e-12 * max(float(np.abs(x0).max()), 1e-300))
    Ms = M / s[:, None]
    dev = np.flatnonzero(w_e > 0)
    m = dev.size
    cost = np.concatenate([M.T @ w_c, lam * (w_e * s)[dev]])
    scale = (abs(float(w_c @ x0)) or float(np.abs(cost).max()) or 1.0) / 1e6
    tm = np.eye(m)
    u0 = (x0 / s)[dev]
    # |Ms α - u0| <= t  <=>  Ms α - t <= u0  and  -Ms α - t <= -u0
    result = _linprog(
        cost / scale,
        np.vstack([np.hstack([Ms[dev], -tm]), np.hstack([-Ms[dev], -tm])]),
        np.concatenate([u0, -u0]),
        np.column_stack(
            [
                np.concatenate([np.full(n, lo), np.zeros(m)]),
                np.concatenate([np.full(n, hi), np.full(m, np.inf)]),
            ]
        ),
        time_limit,
    )
    alpha = np.clip(result.x[:n], lo, hi)
    value = float(result.fun) * scale
    return ExactSolution(alpha, M @ alpha, value, result.message, 0, value)
