"""The default ``λ`` grid of a trade-off: it spans the front from the strongest cut to the
unintervened point, one point per distinct design.

With an L1 penalty the optimal design is piecewise constant in ``λ``: above a finite ``λ`` it
is the unintervened point ``α = 1`` (GHG change 0) and below a finite ``λ`` it is the strongest
cut. The rule (:func:`front_lambdas`), with the fast local exact solver
(``branches="local"``):

1. ``λ_hi``: from the largest per-sector ratio ``w_c,i / w_i``, doubled until the design is
   the unintervened point (relative changes below ``tol``);
2. ``λ_lo``: from the smallest ratio, halved until the design no longer changes;
3. ``num`` points log-spaced in ``[λ_lo, λ_hi]``; consecutive ``λ`` with the same design are
   merged, and the boundary between neighbouring designs with the largest GHG gap is bisected
   in ``log λ`` until there are ``num`` distinct designs (or the front has no more, or
   ``max_solves`` is spent). Each design is kept once: the strongest cut at ``λ_lo``, the
   others at the log-middle of their ``λ`` run, and the unintervened point just above the
   exact ``λ`` where it beats every design found (``max (a₀ - a) / b`` over designs with GHG
   term ``a`` and deviation ``b``), the last point of the grid.

At every λ the design is the best of all designs found (the lower envelope), and the sweep's
solver gets it as a candidate, so the sweep keeps one design per point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .exact import solve_exact

MAX_DOUBLINGS = 60


@dataclass(frozen=True)
class FrontGrid:
    """A ``λ`` grid and how it was found.

    :param lambdas: increasing ``λ``, one per distinct design; the last is unintervened.
    :param note: the rule and its numbers, one sentence (stored in the result's attrs).
    :param solves: number of exact (local) solves spent on the grid.
    :param alphas: the design found at each ``λ`` (a candidate for the sweep's solver).
    """

    lambdas: np.ndarray
    note: str
    solves: int
    alphas: np.ndarray


class _Front:
    """The lower envelope of the designs found so far (local exact solves, cached): at each
    solved λ the best known design, so that the grid's designs are consistent along λ."""

    def __init__(self, io, objective, bounds, target, tol):
        self.io, self.objective, self.bounds, self.target, self.tol = (
            io, objective, bounds, target, tol,
        )  # fmt: skip
        o = objective
        # per design: GHG term a = w_cᵀx, deviation b = Σ w |x - x*|, changes, factors
        self.designs = [(float(o.w_c @ o.x0), 0.0, (0.0, 0.0), np.ones(io.n))]
        self.solved: set[float] = set()

    def _solve(self, lam: float) -> None:
        o = self.objective
        sol = solve_exact(
            self.io.A, self.io.y, o.w_c, o.w, lam, self.bounds, self.target, branches="local"
        )
        x = self.io.equilibrium(sol.alpha, self.target)
        change = (float(o.c @ x) / o.ghg0 - 1.0, float(o.eps @ x) / o.social0 - 1.0)
        a, b = float(o.w_c @ x), float(o.w @ np.abs(x - o.x0))
        self.designs.append((a, b, change, sol.alpha + 0.0))
        self.solved.add(lam)

    def best(self, lam: float):
        if lam not in self.solved:
            self._solve(lam)
        return min(self.designs, key=lambda d: (d[0] + lam * d[1], d[1]))

    def __call__(self, lam: float) -> tuple[float, float]:
        return self.best(lam)[2]

    def same(self, a: float, b: float) -> bool:
        return bool(np.allclose(self(a), self(b), rtol=0.0, atol=self.tol))

    def unintervened(self, lam: float) -> bool:
        return bool(np.all(np.abs(self(lam)) <= self.tol))

    def top(self) -> float:
        """The smallest λ at which the unintervened design beats every known design."""
        a0 = self.designs[0][0]
        return max([(a - a0) / -b for a, b, *_ in self.designs[1:] if b > 0 and a < a0] or [0])

    def runs(self) -> list[list[float]]:
        """The solved λ, sorted, grouped into runs of consecutive equal designs."""
        runs: list[list[float]] = []
        for lam in sorted(self.solved):
            if runs and self.same(runs[-1][-1], lam):
                runs[-1].append(lam)
            else:
                runs.append([lam])
        return runs


def _ratios(objective) -> tuple[float, float]:
    mask = objective.w > 0
    ratio = np.abs(objective.w_c[mask]) / objective.w[mask]
    ratio = ratio[ratio > 0]
    return (1e-3, 1e3) if ratio.size == 0 else (float(ratio.min()), float(ratio.max()))


def _bracket(front: _Front, lo: float, hi: float) -> tuple[float, float]:
    """``λ_hi`` doubled until unintervened, ``λ_lo`` halved until the design stops changing."""
    for _ in range(MAX_DOUBLINGS):
        if front.unintervened(hi):
            break
        hi *= 2.0
    else:
        raise RuntimeError(f"no λ up to {hi:.3g} gives the unintervened design")
    lo = min(lo, hi / 2.0)
    for _ in range(MAX_DOUBLINGS):
        if front.same(lo / 2.0, lo):
            break
        lo /= 2.0
    return lo, hi


def _refine(front: _Front, num: int, budget: int, min_ratio: float = 1e-9) -> None:
    """Bisect (in log λ) the boundary between neighbouring designs with the largest GHG gap
    until there are ``num`` designs, no boundary is wider than ``min_ratio`` or ``budget``
    solves are spent."""
    for _ in range(budget):
        runs = front.runs()
        if len(runs) >= num:
            return
        gaps = [
            (abs(front(b[0])[0] - front(a[-1])[0]), a[-1], b[0])
            for a, b in zip(runs, runs[1:], strict=False)
            if np.log(b[0] / a[-1]) > min_ratio
        ]
        if not gaps:
            return
        _, left, right = max(gaps)
        front(float(np.sqrt(left * right)))


def front_lambdas(io, objective, num: int = 12, bounds=(0.0, 2.0), target="assignment",
                  tol: float = 1e-9, max_solves: int | None = None) -> FrontGrid:  # fmt: skip
    """The default λ grid: ``num`` distinct designs from the strongest cut (first) to the
    unintervened point (last); see the module docstring for the rule.

    :param io: the model.
    :param objective: its :class:`~pyro_causal_eq.economics.objective.TradeoffObjective`
        (L1 or relative penalty).
    :param num: number of points.
    :param bounds: factor bounds of the design.
    :param target: ``"assignment"`` or ``"demand"``.
    :param tol: two designs are the same when their relative GHG and social changes differ by
        at most ``tol``; unintervened when both changes are at most ``tol``.
    :param max_solves: solves spent on bisection (default ``4 num``).

    >>> import pymrio
    >>> from pyro_causal_eq.economics import IOModel, TradeoffObjective
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> grid = front_lambdas(io, TradeoffObjective(io, io.default_ghg, io.default_social), 6)
    >>> len(grid.lambdas), bool(np.all(np.diff(grid.lambdas) > 0))
    (6, True)
    """
    if num < 2:
        raise ValueError(f"the default λ grid needs num >= 2 points, got {num}")
    front = _Front(io, objective, tuple(bounds), target, tol)
    lo, hi = _bracket(front, *_ratios(objective))  # noqa: F841 (hi: the search's top)
    for lam in np.logspace(np.log10(lo), np.log10(hi), num):
        front(float(lam))
    front(lo), front(hi)  # exact ends (no rounding of the log-spacing)
    _refine(front, num, 4 * num if max_solves is None else max_solves)
    top = front.top() * (1 + 1e-6)  # just above the breakpoint to the unintervened design
    if top > 0:
        front(top)
    runs = [run for run in front.runs() if run[0] <= max(top, lo)] if top > 0 else front.runs()
    # one λ per design, inside its run (not at a breakpoint, where designs tie)
    middle = [float(np.sqrt(run[0] * run[-1])) for run in runs[1:-1]]
    lambdas = np.array([runs[0][0], *middle, runs[-1][0]] if len(runs) > 1 else [runs[0][0]])
    alphas = np.stack([front.best(lam)[3] for lam in lambdas])
    note = (
        f"default: {lambdas.size} distinct designs for lambda in [{lambdas[0]:.4g}, "
        f"{lambdas[-1]:.4g}]: lambda_hi doubled until the design is unintervened, lambda_lo "
        "halved until it stops changing "
        "(strongest cut), log-spaced between, repeated designs merged and the largest GHG gaps "
        f"bisected ({len(front.solved)} local exact solves); override with lambdas=... "
        "(CLI --lambdas)"
    )
    return FrontGrid(lambdas, note, len(front.solved), alphas)
