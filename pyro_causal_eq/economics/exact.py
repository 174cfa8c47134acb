"""Exact trade-off optimum by a change of variables to output space (a (mixed-integer) LP).

With ``x = diag(α)(A x + y)`` and ``z = A x + y``, a factor ``α_i ∈ [lo, hi]`` exists iff
``(x_i, z_i)`` lies in the cone ``lo z_i <= x_i <= hi z_i`` (``z_i >= 0``) or its mirror
(``z_i <= 0``), so the image of the box of factors is a union of polyhedra in ``x``-space,
one per sign pattern (cone choice). The objective ``wᶜᵀx + λ Σ wᵢ|xᵢ - xᵢ*|`` is linear plus
L1, so each polyhedron gives an LP whose optimum is exact (the infimum over the open box is
the minimum over the closed one). For nonnegative ``A`` and ``y`` only the unintervened cones
are reachable and one LP is the global optimum. Sectors whose sign can change (negative final
demand or output, negative coefficients) are handled by improving cone flips where a path of
factors can pass from one cone to the other (at the apex ``x_i = z_i = 0``), and optionally
certified globally by a mixed-integer program with one binary per such sector (big-M from
``|x| <= (I - hi|A|)⁻¹ hi|y|``). The factors are recovered as ``α = x / z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .exact_lp import _branch_lp, _linprog
from .sparse import solve, spectral_radius_bound
from .validation import spectral_radius


@dataclass
class ExactSolution:
    """Result of :func:`solve_exact`: factors, the LP's ``x`` and optimal value, status."""

    alpha: np.ndarray
    x: np.ndarray
    value: float
    status: str
    branches: int
    bound: float = -np.inf


def _ambiguous(A: np.ndarray, y: np.ndarray, x0: np.ndarray) -> set[int]:
    """Sectors whose cone (sign of ``z``) may flip under interventions."""
    if sp.issparse(A):
        negative = np.zeros(len(y), dtype=bool)
        coo = A.tocoo()
        negative[coo.row[coo.data < 0]] = True
        A = A.tocsr()
        nonzero = lambda i: A.indices[A.indptr[i] : A.indptr[i + 1]]  # noqa: E731
    else:
        negative = (A < 0).any(axis=1)
        nonzero = lambda i: np.flatnonzero(A[i])  # noqa: E731
    amb = set(np.flatnonzero((y < 0) | (x0 <= 0) | negative).tolist())
    grow = True
    while grow:
        grow = False
        for i in np.flatnonzero(y <= 0):
            if i not in amb and any(int(j) in amb for j in nonzero(i)):
                amb.add(int(i))
                grow = True
    return amb


def solve_exact(
    A: np.ndarray,
    y: np.ndarray,
    w_c: np.ndarray,
    w_e: np.ndarray,
    lam: float,
    bounds: tuple[float, float] = (0.0, 2.0),
    target: str = "assignment",
    time_limit: float = 60.0,
    branches: str = "milp",
) -> ExactSolution:
    """Minimize ``w_cᵀx(α) + lam Σ w_e,i |x_i(α) - x_i(1)|`` over ``α ∈ [lo, hi]ⁿ`` exactly.

    :param A: technical coefficients.
    :param y: final demand.
    :param w_c: linear cost per unit output (GHG intensities, possibly normalized).
    :param w_e: nonnegative weights of the output deviations (|employment intensities|).
    :param lam: trade-off weight.
    :param bounds: ``(lo, hi)`` box of the factors.
    :param target: ``"assignment"`` (``x = α ⊙ (Ax + y)``) or ``"demand"`` (``x = Ax + α⊙y``).
    :param branches: how the cones of sectors whose sign may change (negative final demand or
        output, negative coefficients) are chosen: ``"milp"`` (default: global over all cone
        patterns; the local solution below is certified by the LP relaxation of the branch
        MILP or, failing that, improved / certified by the MILP itself, whose time limit is
        ``time_limit`` seconds; on failure the local solution is kept and ``status`` says so),
        ``"bound"`` (local solution plus the LP-relaxation lower bound) or ``"local"`` (the
        LP of the unintervened cones, then improving flips at cone apexes, where a continuous
        path of factors can change cone; fastest, not certified: on the Georgia USEEIO model
        it stays up to 0.3 % above the global optimum). Without such sectors (nonnegative
        ``A`` and ``y``) every mode is the global optimum of one LP.
    :param time_limit: seconds per LP / MILP.

    >>> A = np.array([[0.1, 0.2], [0.3, 0.1]]); y = np.array([1.0, 2.0])
    >>> sol = solve_exact(A, y, np.array([1.0, 0.1]), np.array([0.0, 0.0]), lam=0.0)
    >>> sol.alpha.round(6), round(sol.value, 9)   # no penalty: shut everything down
    (array([0., 0.]), 0.0)
    """
    lo, hi = map(float, bounds)
    if branches not in ("local", "bound", "milp"):
        raise ValueError(f"branches must be 'local', 'bound' or 'milp', got {branches!r}")
    n = A.shape[0]
    x0 = solve(A, y)
    if target == "demand":
        return _solve_demand(A, y, x0, w_c, w_e, lam, lo, hi, time_limit)
    if target != "assignment":
        raise ValueError(f"target must be 'assignment' or 'demand', got {target!r}")
    absA = abs(A)
    radius = spectral_radius_bound(hi * absA) if sp.issparse(A) else spectral_radius(hi * absA)
    if radius < 1.0:
        xb = solve(absA, hi * np.abs(y), np.full(n, hi))  # |x(α)| <= xb on the box
        finite = True
    else:  # no a-priori bound on the box (large factors): see the heuristic box below
        xb, finite = np.abs(x0), False
    xb = np.maximum(xb, 1e-12 * max(float(xb.max()), 1e-300))
    problem = _Problem(A, y, x0, w_c, w_e, lam, lo, hi, xb, finite, time_limit)
    ambiguous = sorted(_ambiguous(A, y, x0))
    natural = np.where(x0 >= 0, 1.0, -1.0)
    # 1. the LP of the unintervened cones, then improving flips of sectors at a cone apex
    #    (z_i = x_i = 0, where the image of the box passes from one cone to the mirrored one)
    pattern = natural
    x, value = problem.lp(pattern)
    for _ in range(n):
        best = None
        for i in _apex(A, y, x):
            flipped = pattern.copy()
            flipped[i] = -flipped[i]
            try:
                candidate = problem.lp(flipped)
            except RuntimeError:
                continue
            if candidate[1] < value - 1e-10 * abs(value):
                if best is None or candidate[1] < best[1][1]:
                    best = (flipped, candidate)
        if best is None:
            break
        pattern, (x, value) = best[0], best[1]
    status, bound = "optimal over the cone pattern reached by apex flips", -np.inf
    if branches == "local":
        return _finish(problem, x, value, status, len(ambiguous), bound)
    ambiguous = sorted(
        set(ambiguous) | set(_apex(A, y, x)) | set(np.flatnonzero(pattern != natural).tolist())
    )
    if not ambiguous:
        return _finish(problem, x, value, "optimal (LP, no cone can flip)", 0, value)
    if not finite:
        # ρ(hi |A|) >= 1: |x(α)| has no a-priori bound on the box; search the branches within
        # the heuristic box |x| <= 10 max(|x*|, |x|) (big-M), without a global certificate
        box = 10.0 * np.maximum(np.abs(x0), np.abs(x)) + 1e-9 * float(np.abs(x0).max())
        problem = _Problem(A, y, x0, w_c, w_e, lam, lo, hi, box, True, time_limit)
        try:
            x_mip, _, branch = problem.branch_bound(ambiguous, pattern)
            flipped = pattern.copy()
            flipped[ambiguous] = np.where(branch > 0.5, 1.0, -1.0)
            x_lp, v_lp = problem.lp(flipped)
            if v_lp < value:
                x, value = x_lp, v_lp
            status = "optimal within the heuristic box |x| <= 10 max(|x*|, |x|) (not certified)"
        except RuntimeError as error:
            status += f" (branch search failed: {error})"
        return _finish(problem, x, value, status, len(ambiguous), bound)
    # 2. certificate: the LP relaxation of the branch MILP bounds every sign pattern
    try:
        bound = problem.branch_bound(ambiguous, pattern, relax=True)[1]
    except RuntimeError:  # keep the local solution, without a bound
        bound = -np.inf
    if value <= bound + 1e-8 * abs(value) + 1e-12:
        status = "optimal (LP-relaxation certificate)"
    elif branches == "milp":
        # 3. the mixed-integer program over the branches of the ambiguous sectors
        try:
            x_mip, bound, branch = problem.branch_bound(ambiguous, pattern)
        except RuntimeError as error:  # time limit or numerical failure: keep the local one
            status = f"local optimum over cone patterns (MILP certificate failed: {error})"
            return _finish(problem, x, value, status, len(ambiguous), min(bound, value))
        flipped = pattern.copy()
        flipped[ambiguous] = np.where(branch > 0.5, 1.0, -1.0)
        try:
            x_lp, v_lp = problem.lp(flipped)
        except RuntimeError:
            x_lp, v_lp = x_mip, bound
        if v_lp < value:
            x, value = x_lp, v_lp
        status = "optimal (MILP over cone branches)"
    else:
        status = "local optimum over cone patterns; bound from the LP relaxation"
    return _finish(problem, x, value, status, len(ambiguous), min(bound, value))


def _apex(A, y, x) -> list[int]:
    """Sectors at a cone apex (``z_i = x_i = 0`` up to rounding)."""
    z = A @ x + y
    tiny = 1e-7 * (abs(A) @ np.abs(x) + np.abs(y) + np.abs(x)) + 1e-300
    return [int(i) for i in np.flatnonzero((np.abs(z) <= tiny) & (np.abs(x) <= tiny))]


def _finish(problem, x, value, status, branches, bound) -> ExactSolution:
    """Factors ``α = x / z`` from the optimal outputs (snapped to the bounds when exact)."""
    A, y, lo, hi = problem.A, problem.y, problem.lo, problem.hi
    z = A @ x + y
    zscale = abs(A) @ np.abs(x) + np.abs(y)
    safe = np.abs(z) > 1e-10 * np.maximum(zscale, 1e-300)
    alpha = np.clip(np.where(safe, x / np.where(safe, z, 1.0), 1.0), lo, hi)
    alpha = _snap(A, y, problem.x0, problem.w_c, problem.w_e, problem.lam, alpha, lo, hi)
    return ExactSolution(alpha, x, value, status, branches, bound)


def _snap(A, y, x0, w_c, w_e, lam, alpha, lo, hi, rtol: float = 1e-6) -> np.ndarray:
    """Move factors within LP tolerance of a bound onto it when that does not increase the
    objective (evaluated on the exact equilibrium)."""

    def value(a):
        x = solve(A, a * y, a)
        return w_c @ x + lam * (w_e * np.abs(x - x0)).sum()

    width = hi - lo
    snapped = np.where(alpha - lo <= rtol * width, lo, alpha)
    snapped = np.where(hi - snapped <= rtol * width, hi, snapped)
    return snapped if value(snapped) <= value(alpha) else alpha


class _Problem:
    """The data of one assignment trade-off, with the LPs over sign patterns (cones)."""

    def __init__(self, A, y, x0, w_c, w_e, lam, lo, hi, xb, finite, time_limit):
        self.A, self.y, self.x0, self.w_c, self.w_e = A, y, x0, w_c, w_e
        self.lam, self.lo, self.hi, self.xb, self.finite = lam, lo, hi, xb, finite
        self.time_limit = time_limit
        self.ubound = np.full(len(y), 1.0 + 1e-9) if finite else np.full(len(y), np.inf)

    def _scaled(self, s: np.ndarray):
        # z / s = At u + yt with x = s * u
        if sp.issparse(self.A):
            At = (sp.diags(1.0 / s) @ self.A @ sp.diags(s)).tocsr()
        else:
            At = self.A * s[None, :] / s[:, None]
        yt = self.y / s
        zb = abs(At) @ np.minimum(self.xb / s, 1e300) + np.abs(yt)  # |z_i| / s_i <= zb_i
        return At, yt, zb

    def lp(self, pattern: np.ndarray) -> tuple[np.ndarray, float]:
        """Optimum over one cone pattern, variables scaled by ``|x*|`` (tight tolerances)."""
        s = np.maximum(np.abs(self.x0), 1e-9 * float(np.abs(self.x0).max()))
        At, yt, zb = self._scaled(s)
        u, value, _, _ = _branch_lp(
            At,
            yt,
            self.x0 / s,
            self.w_c * s,
            self.w_e * s,
            self.lam,
            self.lo,
            self.hi,
            [],
            zb,
            self.ubound * self.xb / s,
            pattern,
            self.time_limit,
        )
        return u * s, value

    def branch_bound(self, ambiguous, pattern, relax: bool = False):
        """The MILP over the branches of ``ambiguous`` (or its LP relaxation: a lower bound),
        variables scaled by the a-priori bound ``xb`` so that the big-M constants are O(1)."""
        At, yt, zb = self._scaled(self.xb)
        u, value, _, branch = _branch_lp(
            At,
            yt,
            self.x0 / self.xb,
            self.w_c * self.xb,
            self.w_e * self.xb,
            self.lam,
            self.lo,
            self.hi,
            ambiguous,
            zb,
            self.ubound,
            pattern,
            self.time_limit,
            relax=relax,
        )
        return u * self.xb, value, branch


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
