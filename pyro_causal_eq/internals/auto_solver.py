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
    diverges, stagnates or is predicted to need more than ``n / 4`` further iterations (single
    systems up to :data:`DIRECT_MAX_SIZE` scalars: ``n / 50``, checked every
    :data:`TRACED_STALL_WINDOW` iterations, because with a cheap Jacobian one LU costs less
    than the remaining forward and adjoint iterations; the Jacobian is traced then, and if it
    is not cheap Anderson continues under the ``n / 4`` budget), Newton takes over
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
            retry = self._retry
            handover = {"from": retry["from"], "to": "picard", "reason": retry["reason"]}
            handover["iteration"] = 0
            result.state.update(solver="picard", handovers=[handover])
            return result
        # a single system's Jacobian is traced: when it is cheap, Newton costs about one LU
        single = z0.dim() == 1 and NEWTON_MAX_SIZE < n <= DIRECT_MAX_SIZE
        traced, traced_at = None, z0
        if z0.dim() == 1 and n <= TRACED_NEWTON_MAX_SIZE:  # nonlinear maps: checked later
            traced = cheap_jacobian(f, z0, verify=False)
        newton_first = n <= NEWTON_MAX_SIZE or traced is not None
        black_box = ("anderson", (STALL_WINDOW, max(3 * STALL_WINDOW, n / 4)))
        if newton_first:
            plan = [("newton", None), ("anderson", None), ("picard", None)]
        elif single:  # optimistic: an early hand-over pays if the Jacobian is cheap (checked then)
            window = TRACED_STALL_WINDOW
            plan = [("anderson", (window, max(3 * window, n / TRACED_BUDGET_DIVISOR)))]
            plan += [("newton", None), ("anderson", None), ("picard", None)]
        else:
            plan = [black_box, ("newton", None), ("anderson", None), ("picard", None)]
        self._first_method = plan[0][0]
        handovers, total, history = [], 0, None
        best, result, index = z0, None, 0
        best_residual = torch.full(z0.shape[:-1], float("inf"), dtype=z0.dtype)
        while index < len(plan):
            method, budget = plan[index]
            start = z0 if method == "picard" or newton_first else best
            reuse = traced is not None and (start is traced_at or traced.affine)  # any z
            given = traced if reuse and method == "newton" else None
            options = _newton_options(given, start is traced_at, history)
            result = self._stage(method, budget, f, start, tol, max_iter, **options)
            if given is not None:
                _settle_traced_step(result, given)
                traced = None if given.owned else traced  # overwritten by I - J
            total += result.iterations
            history = result.state.get("history", history)
            if bool(result.converged.all()):
                break
            best, best_residual = _better(best, best_residual, result)
            reason = _failure_reason(method, result)
            if index == 0 and single and not newton_first and reason.startswith("slow"):
                traced, traced_at = cheap_jacobian(f, best, verify=False), best
                if traced is None:  # a black-box Jacobian: Newton only pays much later
                    plan.insert(1, black_box)
                    reason += "; the Jacobian is not cheap, so Anderson continues"
            if index + 1 < len(plan):
                handovers.append(
                    {"from": method, "to": plan[index + 1][0], "reason": reason, "iteration": total}
                )
            index += 1
        result.state.update(solver=method, handovers=handovers)
        if history is not None:  # Anderson's differences: Ritz values for the stability check
            result.state.setdefault("history", history)
        result.iterations = total
        return result

    def _stage(self, method, budget, f, z0, tol, max_iter, **newton_options) -> ForwardResult:
        max_iter = max_iter if self.max_iter else STAGE_MAX_ITER[method]
        common = {"tol": tol, "max_iter": max_iter, "atol": self.atol}
        if method == "newton":
            return newton(f, z0, **common, **newton_options)
        if method == "picard":
            return picard(f, z0, **common)
        window, budget = budget if budget is not None else (0, float("inf"))
        return anderson(f, z0, **common, stall_window=window, stall_budget=budget)

    def adjoint(self, vjp, g, result, tol, max_iter):
        if "lu" in result.state or g.shape[-1] <= 16:
            return lu_refined_solve(vjp, g, result.state, tol, max_iter)
        with torch.no_grad():
            back = anderson(lambda u: vjp(u) + g, g, tol=tol, max_iter=max(max_iter, 2000))
            if bool(back.converged.all()) or g.shape[-1] > DIRECT_MAX_SIZE:
                return back.z
            return direct_solve(vjp, g)


def _newton_options(traced, at_start: bool, history) -> dict:
    """Newton's options from a traced Jacobian (``None``: Newton forms its own): the matrix,
    which Newton may overwrite when it is fresh, ``f(start)`` from the traced evaluation when it
    was taken there (it has no graph: not under an unrolled backward), and whether to keep a
    stability stand-in (not after Anderson: its Ritz values stand in)."""
    options: dict = {"stand_in": history is None}
    if traced is not None:
        options.update(jacobian=traced.matrix, overwrite_jacobian=traced.owned)
        if at_start and not torch.is_grad_enabled():
            options["value"] = traced.value
    return options


def _settle_traced_step(result: ForwardResult, traced) -> None:
    """After a Newton solve that started from a traced Jacobian. One that was not checked (a
    nonlinear map's: affine ones always are) never decides the solution or the backward
    (residuals and adjoints use exact products), but its stability stand-ins would: unless
    later, checked steps replaced them, drop them (the check then forms the Jacobian at the
    solution). The LU of an affine map's checked Jacobian after one step is exactly
    ``I - ∂F/∂x``: mark it so a first-order backward pass solves with it unrefined."""
    if result.iterations == 1 and not traced.verified:
        result.state.pop("norm_bound", None)
        result.state.pop("jacobian", None)
    exact = traced.verified and traced.affine and result.iterations == 1
    result.state["lu_exact"] = exact and not bool(result.state["lu"].singular.any())


def _better(best: torch.Tensor, best_residual: torch.Tensor, result: ForwardResult):
    """Per batch element, the better of ``best`` (residual ``best_residual``; ``init`` starts
    at infinity) and a stage's best iterate (residuals as reported: no extra evaluations)."""
    residual = result.residual.detach().nan_to_num(float("inf"), float("inf"), float("inf"))
    better = residual < best_residual
    return (
        torch.where(better.unsqueeze(-1), result.z, best),
        torch.where(better, residual, best_residual),
    )


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
