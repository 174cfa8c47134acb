"""The solve pipeline shared by every solver configuration (handlers and the automatic
default): options, forward solve, failure messages, equilibrium checks, implicit gradient."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import EquilibriumError
from .checks import check_equilibrium, failed_indices
from .solvers import ForwardResult
from .solvers.adjoint import generic_solve, lu_refined_solve
from .solvers.implicit import attach_implicit_gradient

Map = Callable[[torch.Tensor], torch.Tensor]


def default_tol(dtype: torch.dtype) -> float:
    """Default residual tolerance: ``1e-12`` in float64, ``1e-5`` in lower precision."""
    return 1e-12 if dtype == torch.float64 else 1e-5


@dataclass(frozen=True)
class Option:
    """A solver option: default value, validity test and what a valid value is."""

    default: Any
    valid: Callable[[Any], bool] = lambda value: True
    expected: str = ""


def _positive_or_none(v) -> bool:
    return v is None or v > 0


def _at_least_one_or_none(v) -> bool:
    return v is None or v >= 1


COMMON_OPTIONS = {
    "tol": Option(None, _positive_or_none, "positive"),
    "max_iter": Option(None, _at_least_one_or_none, "at least 1"),
    "backward": Option("implicit", lambda v: v in ("implicit", "unrolled"), "implicit|unrolled"),
    "backward_tol": Option(None, _positive_or_none, "positive"),
    "backward_max_iter": Option(None, _at_least_one_or_none, "at least 1"),
    "warm_start": Option(False),
    "check": Option("auto", lambda v: v in ("auto", "always", "never"), "auto|always|never"),
    "check_size": Option(64, lambda v: v >= 0, "non-negative"),
    "require_stable": Option(True),
    "atol": Option(0.0, lambda v: v >= 0, "non-negative"),
    "derivative_order": Option(
        2, lambda v: isinstance(v, int) and v >= 2, "an integer of at least 2"
    ),
}


class SolverCore:
    """Options plus the pipeline ``forward -> checks -> implicit gradient``; subclasses declare
    ``options`` (beyond :data:`COMMON_OPTIONS`) and implement :meth:`forward` and
    :meth:`adjoint`.

    >>> core = SolverCore(tol=1e-8)
    >>> core.with_options(max_iter=3).max_iter, core.max_iter is None
    (3, True)
    """

    name = "solver"
    default_max_iter = 1000
    options: dict[str, Option] = {}

    def __init__(self, **kwargs: Any):
        super().__init__()
        declared = self.all_options()
        unknown = set(kwargs) - set(declared)
        if unknown:
            raise TypeError(
                f"unknown option(s) {sorted(unknown)} for {type(self).__name__}; "
                f"options: {sorted(declared)}"
            )
        for key, option in declared.items():
            setattr(self, key, kwargs.get(key, option.default))
        self._previous: dict[str, torch.Tensor] = {}
        self._validate()

    @classmethod
    def all_options(cls) -> dict[str, Option]:
        return {**COMMON_OPTIONS, **cls.options}

    def _validate(self) -> None:
        """Raise a ``ValueError`` naming the first invalid option."""
        for key, option in self.all_options().items():
            value = getattr(self, key)
            try:
                ok = bool(option.valid(value))
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(f"{key} must be {option.expected}, got {value!r}")

    def with_options(self, **overrides: Any) -> SolverCore:
        """A copy with some options replaced (the warm-start memory is shared)."""
        if not overrides:
            return self
        unknown = set(overrides) - set(self.all_options())
        if unknown:
            raise TypeError(
                f"unknown option(s) {sorted(unknown)} for {type(self).__name__}; "
                f"options: {sorted(self.all_options())}"
            )
        clone = copy.copy(self)
        for key, value in overrides.items():
            setattr(clone, key, value)
        clone._validate()
        return clone

    # -- to implement ----------------------------------------------------------------------
    def forward(self, f: Map, z0: torch.Tensor, tol: float, max_iter: int) -> ForwardResult:
        raise NotImplementedError

    def adjoint(self, vjp: Map, g: torch.Tensor, result: ForwardResult, tol, max_iter):
        """Solve ``u = vjp(u) + g`` (``vjp(u) = Jᵀu`` at the solution)."""
        raise NotImplementedError

    def linear_solve(self, jvp: Map, h: torch.Tensor, result: ForwardResult, tol, max_iter):
        """Solve ``w = jvp(w) + h`` (``jvp(w) = J w``; second and higher derivatives only):
        Newton's LU refined against exact products, else Anderson, else a direct solve."""
        if "lu" in result.state:
            return lu_refined_solve(jvp, h, result.state, tol, max_iter, transpose=False)
        return generic_solve(jvp, h, tol, max_iter)

    def label(self, result: ForwardResult) -> str:
        """The solver named in diagnostics and messages."""
        return self.name

    # -- pipeline --------------------------------------------------------------------------
    def solve(self, f: Map, z0: torch.Tensor, system: str = "system") -> tuple[torch.Tensor, dict]:
        """Solve ``z = f(z)`` from ``z0`` and attach the gradient; returns ``(z, diagnostics)``.

        :raises EquilibriumError: on non-convergence, divergence, a singular ``I - ∂F/∂x`` or
            (with ``require_stable``) an equilibrium that is not attracting.
        """
        tol = self.tol if self.tol is not None else default_tol(z0.dtype)
        max_iter = self.max_iter or self.default_max_iter
        previous = self._previous.get(system) if self.warm_start else None
        if previous is not None and previous.shape == z0.shape and previous.dtype == z0.dtype:
            z0 = previous
        if self.backward == "unrolled":
            return self._solve_unrolled(f, z0, system, tol, max_iter)
        with torch.no_grad():
            result = self.forward(f, z0.detach(), tol, max_iter)
        self._raise_if_failed(result, system, tol)
        check_equilibrium(self, f, result, system)
        if self.warm_start:
            self._previous[system] = result.z.detach()
        backward_tol = self.backward_tol or tol
        backward_max_iter = self.backward_max_iter or max_iter

        def adjoint_solver(vjp: Map, g: torch.Tensor) -> torch.Tensor:
            return self.adjoint(vjp, g, result, backward_tol, backward_max_iter)

        def linear_solver(jvp: Map, h: torch.Tensor) -> torch.Tensor:
            return self.linear_solve(jvp, h, result, backward_tol, backward_max_iter)

        lu = result.state.get("lu") if result.state.get("lu_exact") else None
        z = attach_implicit_gradient(
            f,
            result.z,
            adjoint_solver,
            linear_solver,
            backward_tol,
            self.derivative_order,
            None if lu is None else lambda g: lu.solve(g, transpose=True),
        )
        return z, self._diagnostics(result)

    def _diagnostics(self, result: ForwardResult, suffix: str = "") -> dict:
        diagnostics = result.diagnostics(self.label(result) + suffix)
        diagnostics["configured"] = self.name
        diagnostics["handovers"] = list(result.state.get("handovers", []))
        return diagnostics

    def _solve_unrolled(self, f, z0, system, tol, max_iter):
        result = self.forward(f, z0, tol, max_iter)
        self._raise_if_failed(result, system, tol)
        history = result.state.get("history")
        detached = ForwardResult(
            result.z.detach(),
            result.residual.detach(),
            result.iterations,
            result.converged,
            {} if history is None else {"history": tuple(t.detach() for t in history)},
        )
        check_equilibrium(self, f, detached, system)
        return result.z, self._diagnostics(result, "(unrolled)")

    def _raise_if_failed(self, result: ForwardResult, system: str, tol: float) -> None:
        label = self.label(result)
        converged = result.converged & torch.isfinite(result.z).all(-1)
        where = failed_indices(~converged)
        if bool(result.state.get("singular", torch.tensor(False)).any()):
            raise EquilibriumError(
                f"equilibrate({system!r}): I - ∂F/∂x is singular (no locally unique "
                f"equilibrium) after {result.iterations} {label} iterations{where}",
                residual=result.residual.detach(),
            )
        if not bool(converged.all()):
            worst = float(result.residual.detach().nan_to_num(float("inf")).max())
            failed = int((~converged).sum())
            handovers = "".join(
                f"; handed over {h['from']} -> {h['to']} at iteration {h['iteration']}: "
                f"{h['reason']}"
                for h in result.state.get("handovers", [])
            )
            raise EquilibriumError(
                f"equilibrate({system!r}): {label} did not converge in {result.iterations} "
                f"iterations: residual {worst:.3g} > tol {tol:.3g} in {failed} of "
                f"{converged.numel()} batch element(s){where}{handovers}; the map may not be "
                "a contraction (try Newton, a larger max_iter, damping beta < 1, or another "
                "init)",
                residual=result.residual.detach(),
            )
