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

import numpy as np
import scipy.sparse as sp

from .exact_lp import ExactSolution, _branch_lp, _solve_demand
from .sparse import solve, spectral_radius_bound
from .validation import spectral_radius


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
    x0 = solve(A, y)
    if target == "demand":
        return _solve_demand(A, y, x0, w_c, w_e, lam, lo, hi, time_limit)
    if target != "assignment":
        raise ValueError(f"target must be 'assignment' or 'demand', got {target!r}")
    xb, finite = _box_bound(A, y, x0, hi)
    problem = _Problem(A, y, x0, w_c, w_e, lam, lo, hi, xb, finite, time_limit)
    ambiguous = sorted(_ambiguous(A, y, x0))
    natural = np.where(x0 >= 0, 1.0, -1.0)
    # 1. the LP of the unintervened cones, then improving flips of sectors at a cone apex
    pattern, x, value = _apex_flips(problem, natural)
    if branches == "local":
        status = "optimal over the cone pattern reached by apex flips"
        return _finish(problem, x, value, status, len(ambiguous), -np.inf)
    ambiguous = sorted(
        set(ambiguous) | set(_apex(A, y, x)) | set(np.flatnonzero(pattern != natural).tolist())
    )
    if not ambiguous:
        return _finish(problem, x, value, "optimal (LP, no cone can flip)", 0, value)
    if not finite:
        return _heuristic_branches(problem, ambiguous, pattern, x, value)
    # 2. the LP-relaxation certificate, 3. the branch MILP when it does not close the gap
    return _certified(problem, ambiguous, pattern, x, value, branches)


def _box_bound(A, y, x0, hi) -> tuple[np.ndarray, bool]:
    """A-priori bound ``|x(α)| <= xb`` on the box, and whether it is one (``ρ(hi|A|) < 1``;
    otherwise ``|x*|``, the scale of the heuristic box)."""
    absA = abs(A)
    radius = spectral_radius_bound(hi * absA) if sp.issparse(A) else spectral_radius(hi * absA)
    if radius < 1.0:
        xb, finite = solve(absA, hi * np.abs(y), np.full(A.shape[0], hi)), True
    else:  # no a-priori bound on the box (large factors): see the heuristic box
        xb, finite = np.abs(x0), False
    return np.maximum(xb, 1e-12 * max(float(xb.max()), 1e-300)), finite


def _apex_flips(problem, pattern):
    """Improve the cone pattern greedily by flipping sectors at a cone apex (``z_i = x_i =
    0``, where the image of the box passes from one cone to the mirrored one)."""
    x, value = problem.lp(pattern)
    for _ in range(len(pattern)):
        best = None
        for i in _apex(problem.A, problem.y, x):
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
    return pattern, x, value


def _best_branch(problem, ambiguous, pattern, branch, x, value, fallback=None):
    """The LP of the cone pattern chosen by the MILP's branches, when it improves ``value``."""
    flipped = pattern.copy()
    flipped[ambiguous] = np.where(branch > 0.5, 1.0, -1.0)
    try:
        x_lp, v_lp = problem.lp(flipped)
    except RuntimeError:
        if fallback is None:
            raise
        x_lp, v_lp = fallback
    return (x_lp, v_lp) if v_lp < value else (x, value)


def _heuristic_branches(problem, ambiguous, pattern, x, value) -> ExactSolution:
    """``ρ(hi |A|) >= 1``: |x(α)| has no a-priori bound on the box; search the branches within
    the heuristic box ``|x| <= 10 max(|x*|, |x|)`` (big-M), without a global certificate."""
    p, x0 = problem, problem.x0
    box = 10.0 * np.maximum(np.abs(x0), np.abs(x)) + 1e-9 * float(np.abs(x0).max())
    problem = _Problem(p.A, p.y, x0, p.w_c, p.w_e, p.lam, p.lo, p.hi, box, True, p.time_limit)
    status = "optimal over the cone pattern reached by apex flips"
    try:
        _, _, branch = problem.branch_bound(ambiguous, pattern)
        x, value = _best_branch(problem, ambiguous, pattern, branch, x, value)
        status = "optimal within the heuristic box |x| <= 10 max(|x*|, |x|) (not certified)"
    except RuntimeError as error:
        status += f" (branch search failed: {error})"
    return _finish(problem, x, value, status, len(ambiguous), -np.inf)


def _certified(problem, ambiguous, pattern, x, value, branches) -> ExactSolution:
    """Certificate by the LP relaxation of the branch MILP (a bound over every sign pattern);
    with ``branches="milp"`` the MILP itself when the relaxation does not close the gap."""
    try:
        bound = problem.branch_bound(ambiguous, pattern, relax=True)[1]
    except RuntimeError:  # keep the local solution, without a bound
        bound = -np.inf
    if value <= bound + 1e-8 * abs(value) + 1e-12:
        status = "optimal (LP-relaxation certificate)"
    elif branches == "milp":
        try:
            x_mip, bound, branch = problem.branch_bound(ambiguous, pattern)
        except RuntimeError as error:  # time limit or numerical failure: keep the local one
            status = f"local optimum over cone patterns (MILP certificate failed: {error})"
            return _finish(problem, x, value, status, len(ambiguous), min(bound, value))
        x, value = _best_branch(problem, ambiguous, pattern, branch, x, value, (x_mip, bound))
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
