"""The automatic default solver: globalized Newton for small systems, Anderson for large
ones, handing over between them (and finally to Picard) when one fails, with every hand-over
recorded in the diagnostics."""

from __future__ import annotations

import copy

import torch

from ..errors import EquilibriumError
from .solver_core import SolverCore
from .solvers import ForwardResult, anderson, newton, picard
from .solvers.adjoint import direct_solve, lu_refined_solve
from .solvers.common import relative_residual
from .solvers.jacobian import cheap_jacobian

#: systems of at most this many scalars start with Newton when no solver is chosen
NEWTON_MAX_SIZE = 160
#: single systems of at most this many scalars also start with Newton when their Jacobian is
#: cheap (traced in ``O(n²)``: then one LU costs about what Anderson's forward and adjoint
#: iterations cost at these sizes)
TRACED_NEWTON_MAX_SIZE = 600
#: iterations per stagnation check of the first (monitored) Anderson run
STALL_WINDOW = 10
#: the same when a cheap Jacobian makes the hand-over to Newton cost about one LU
TRACED_STALL_WINDOW = 5
#: with a cheap Jacobian, Anderson hands over when more than ``n / TRACED_BUDGET_DIVISOR``
#: further iterations are predicted (forward and adjoint iterations then cost more than one
#: LU with its two triangular solves); ``n / 4`` otherwise (a black-box Jacobian costs ``n``
#: vector-Jacobian products more)
TRACED_BUDGET_DIVISOR = 50
#: most iterations of the default's adjoint solved densely when Anderson fails on it
DIRECT_MAX_SIZE = 2000
STAGE_MAX_ITER = {"newton": 50, "anderson": 2000, "picard": 10_000}


class AutoSolver(SolverCore):
    """The solver used when no solver handler is active.

    Small systems (at most :data:`NEWTON_MAX_SIZE` scalars) start with the globalized Newton
    method from ``init``; when it stalls (a stationary point of the merit ``||F(x) - x||²``
    that is not a root) or exhausts its iterations, Anderson takes over from ``init``, then
    Picard. So do single systems of at most :data:`TRACED_NEWTON_MAX_SIZE` scalars whose
    Jacobian is cheap (:func:`~.solvers.jacobian.cheap_jacobian`: traced in ``O(n²)``, e.g.
    matrix products with constants and elementwise operations; it is traced once, at ``init``).
    Larger systems start with Anderson under a :class:`~.solvers.common.StallMonitor`: when it
    diverges, stagnates or is predicted to need more than ``n / 4`` further iterations (``n /
    50`` with a cheap Jacobian, checked every :data:`TRACED_STALL_WINDOW` iterations: where
    one LU is cheaper than the remaining forward and adjoint iterations), Newton takes over
    from Anderson's best iterate (reusing the traced Jacobian when the map is affine), then an
    unmonitored Anderson, then Picard from ``init``. A solution that is not attracting makes
    Picard retry from ``init``. ``infer["equilibrium"]`` records the solver that produced the
    solution (``solver``) and every hand-over (``handovers``: dicts with ``from``, ``to``,
    ``reason``, ``iteration``).

    >>> import torch
    >>> x0 = torch.zeros(3, dtype=torch.float64)
    >>> z, info = AutoSolver().solve(lambda z: 0.5 * z + 1.0, x0)
    >>> z.tolist(), info["solver"], info["handovers"]
    ([2.0, 2.0, 2.0], 'newton', [])
    """

    name = "auto"
    _retry: dict | None = None  # set on the copy that retries with Picard

    def label(self, result: ForwardResult) -> str:
        return result.state.get("solver", self.name)

    def solve(self, f, z0, system: str = "system"):
        """As :meth:`SolverCore.solve`; when Newton or Anderson converged to a fixed point that
        is not attracting, Picard retries from ``init`` (it only finds attracting ones)."""
        try:
            return super().solve(f, z0, system)
        except EquilibriumError as error:
            if self._retry is not None or "not attracting" not in str(error):
                raise
            retry = copy.copy(self)
            retry._retry = {
                "reason": "fixed point not attracting: " + str(error).split(": ")[-1],
                "from": getattr(self, "_first_method", "newton"),
            }
            try:
                return retry.solve(f, z0, system)
            except EquilibriumError:
                raise error from None

    def forward(self, f, z0, tol, max_iter):
        n = z0.shape[-1]
        if self._retry is not None:
            result = self._stage("picard", None, f, z0, tol, max_iter)
            handover = {"from": "newton", "to": "picard"}
            handover.update(self._retry, iteration=0)
            result.state.update(solver="picard", handovers=[handover])
            return result
        # a single system's Jacobian is traced once: when it is cheap, Newton costs one LU
        traced = None
        if z0.dim() == 1 and NEWTON_MAX_SIZE < n <= DIRECT_MAX_SIZE:
            traced = cheap_jacobian(f, z0)
        newton_first = n <= NEWTON_MAX_SIZE or (traced is not None and n <= TRACED_NEWTON_MAX_SIZE)
        if newton_first:
            plan = [("newton", None), ("anderson", None), ("picard", None)]
        else:
            divisor = 4 if traced is None else TRACED_BUDGET_DIVISOR
            window = STALL_WINDOW if traced is None else TRACED_STALL_WINDOW
            plan = [("anderson", (window, max(3 * window, n / divisor))), ("newton", None)]
            plan += [("anderson", None), ("picard", None)]
        self._first_method = plan[0][0]
        handovers, total, history = [], 0, None
        best, result = z0, None
        for index, (method, budget) in enumerate(plan):
            start = z0 if method == "picard" or newton_first else best
            reuse = traced is not None and (start is z0 or traced[1])  # affine: J everywhere
            jacobian = traced[0] if reuse and method == "newton" else None
            result = self._stage(method, budget, f, start, tol, max_iter, jacobian)
            total += result.iterations
            history = result.state.get("history", history)
            if bool(result.converged.all()):
                break
            best = _better(f, best, result.z, self.atol)
            if index + 1 < len(plan):
                handovers.append(
                    {
                        "from": method,
                        "to": plan[index + 1][0],
                        "reason": _failure_reason(method, result),
                        "iteration": total,
                    }
                )
        result.state.update(solver=method, handovers=handovers)
        if history is not None:  # Anderson's differences: Ritz values for the stability check
            result.state.setdefault("history", history)
        result.iterations = total
        return result

    def _stage(self, method, budget, f, z0, tol, max_iter, jacobian=None) -> ForwardResult:
        max_iter = max_iter if self.max_iter else STAGE_MAX_ITER[method]
        if method == "newton":
            return newton(f, z0, tol=tol, max_iter=max_iter, atol=self.atol, jacobian=jacobian)
        if method == "picard":
            return picard(f, z0, tol=tol, max_iter=max_iter, atol=self.atol)
        window, budget = budget if budget is not None else (0, float("inf"))
        return anderson(
            f,
            z0,
            tol=tol,
            max_iter=max_iter,
            atol=self.atol,
            stall_window=window,
            stall_budget=budget,
        )

    def adjoint(self, vjp, g, result, tol, max_iter):
        if "lu" in result.state or g.shape[-1] <= 16:
            return lu_refined_solve(vjp, g, result.state, tol, max_iter)
        with torch.no_grad():
            back = anderson(lambda u: vjp(u) + g, g, tol=tol, max_iter=max(max_iter, 2000))
            if bool(back.converged.all()) or g.shape[-1] > DIRECT_MAX_SIZE:
                return back.z
            return direct_solve(vjp, g)


def _better(f, a: torch.Tensor, b: torch.Tensor, atol: float) -> torch.Tensor:
    """Per batch element, the one of ``a``, ``b`` with the smaller residual (finite first)."""
    ra = relative_residual(a, f(a), atol).nan_to_num(float("inf"))
    rb = relative_residual(b, f(b), atol).nan_to_num(float("inf"))
    return torch.where((rb < ra).unsqueeze(-1), b, a)


def _failure_reason(method: str, result: ForwardResult) -> str:
    worst = float(result.residual.nan_to_num(float("inf")).max())
    if "handover" in result.state:
        return result.state["handover"]
    if not bool(torch.isfinite(result.residual).all()):
        return "non-finite iterate (diverging)"
    if bool(result.state.get("stalled", torch.tensor(False)).any()):
        return f"merit ||F(x) - x||² stopped decreasing (residual {worst:.3g})"
    return f"no convergence in {result.iterations} iterations (residual {worst:.3g})"


def default_solver(size: int) -> AutoSolver:
    """The solver used when no solver handler is active (``size``: scalars in the system; the
    automatic solver picks its first method from it).

    >>> default_solver(10).name
    'auto'
    """
    return AutoSolver()
