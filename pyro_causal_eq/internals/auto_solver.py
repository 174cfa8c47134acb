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

#: systems of at most this many scalars start with Newton when no solver is chosen
NEWTON_MAX_SIZE = 160
#: iterations per stagnation check of the first (monitored) Anderson run
STALL_WINDOW = 10
#: most iterations of the default's adjoint solved densely when Anderson fails on it
DIRECT_MAX_SIZE = 2000
STAGE_MAX_ITER = {"newton": 50, "anderson": 2000, "picard": 10_000}


class AutoSolver(SolverCore):
    """The solver used when no solver handler is active.

    Small systems (at most :data:`NEWTON_MAX_SIZE` scalars) start with the globalized Newton
    method from ``init``; when it stalls (a stationary point of the merit ``||F(x) - x||²``
    that is not a root) or exhausts its iterations, Anderson takes over from ``init``, then
    Picard. Large systems start with Anderson under a :class:`~.solvers.common.StallMonitor`:
    when it diverges, stagnates or is predicted to need more than ``n / 4`` further iterations
    (where one dense Newton step is cheaper), Newton takes over from Anderson's best iterate,
    then an unmonitored Anderson, then Picard from ``init``. A solution that is not attracting
    makes Picard retry from ``init``. ``infer["equilibrium"]`` records
    the solver that produced the solution (``solver``) and every hand-over (``handovers``: dicts
    with ``from``, ``to``, ``reason``, ``iteration``).

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
            retry._retry = {"reason": "fixed point not attracting: " + str(error).split(": ")[-1]}
            try:
                return retry.solve(f, z0, system)
            except EquilibriumError:
                raise error from None

    def forward(self, f, z0, tol, max_iter):
        n = z0.shape[-1]
        if self._retry is not None:
            result = self._stage("picard", None, f, z0, tol, max_iter)
            handover = {"from": "newton" if n <= NEWTON_MAX_SIZE else "anderson", "to": "picard"}
            handover.update(self._retry, iteration=0)
            result.state.update(solver="picard", handovers=[handover])
            return result
        if n <= NEWTON_MAX_SIZE:
            plan = [("newton", None), ("anderson", None), ("picard", None)]
        else:
            plan = [("anderson", max(3 * STALL_WINDOW, n / 4)), ("newton", None)]
            plan += [("anderson", None), ("picard", None)]
        handovers, total = [], 0
        best, result = z0, None
        for index, (method, budget) in enumerate(plan):
            start = z0 if method == "picard" or n <= NEWTON_MAX_SIZE else best
            result = self._stage(method, budget, f, start, tol, max_iter)
            total += result.iterations
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
        result.iterations = total
        return result

    def _stage(self, method, budget, f, z0, tol, max_iter) -> ForwardResult:
        max_iter = max_iter if self.max_iter else STAGE_MAX_ITER[method]
        if method == "newton":
            return newton(f, z0, tol=tol, max_iter=max_iter, atol=self.atol)
        if method == "picard":
            return picard(f, z0, tol=tol, max_iter=max_iter, atol=self.atol)
        window = STALL_WINDOW if budget is not None else 0
        return anderson(
            f,
            z0,
            tol=tol,
            max_iter=max_iter,
            atol=self.atol,
            stall_window=window,
            stall_budget=budget if budget is not None else float("inf"),
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
