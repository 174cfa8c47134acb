"""Solver configuration as a handler: the base class of :class:`Anderson`, :class:`Picard`,
:class:`Newton`, and the automatic default used when none is active."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from pyro.poutine.messenger import Messenger

from ..errors import EquilibriumError
from ..internals.solvers import ForwardResult, dense_jacobian
from ..internals.solvers.implicit import attach_implicit_gradient

Map = Callable[[torch.Tensor], torch.Tensor]
BACKWARD_MODES = ("implicit", "unrolled")
CHECK_MODES = ("auto", "always", "never")


def default_tol(dtype: torch.dtype) -> float:
    """Default residual tolerance: ``1e-12`` in float64, ``1e-5`` in lower precision."""
    return 1e-12 if dtype == torch.float64 else 1e-5


class EquilibriumSolver(Messenger):
    """Answers :func:`~pyro_causal_eq.equilibrate` calls inside its context with this solver.

    The innermost solver handler wins; per-call ``solver_overrides`` of ``equilibrate`` update
    its options. Nesting order with :func:`~pyro_causal_eq.do` does not matter.

    :param tol: tolerance on the scale-invariant residual ``||x - F(x)|| / ||x||`` per batch
        element (default: ``1e-12`` in float64, ``1e-5`` otherwise).
    :param max_iter: maximal iterations of the forward solver.
    :param backward: ``"implicit"`` (implicit function theorem, default) or ``"unrolled"``
        (differentiate through the forward iterations; a check, slow and memory-hungry).
    :param backward_tol: tolerance of the adjoint solve (default: ``tol``).
    :param backward_max_iter: maximal iterations of the adjoint solve (default: ``max_iter``).
    :param warm_start: start each solve of a system from this handler's previous solution of
        the same system (when shapes match).
    :param check: ``"auto"`` checks ``I - ∂F/∂x`` for singularity and ``ρ(∂F/∂x) < 1``
        (an attracting equilibrium) with a dense Jacobian for systems of at most
        ``check_size`` scalars; ``"always"`` for any size; ``"never"`` skips it.
    :param check_size: size limit of the ``"auto"`` check.
    :param require_stable: raise when the equilibrium is not attracting (``ρ ≥ 1``).
    :param atol: floor of the residual's denominator (for equilibria at the origin).
    """

    name = "solver"

    def __init__(
        self,
        *,
        tol: float | None = None,
        max_iter: int | None = None,
        backward: str = "implicit",
        backward_tol: float | None = None,
        backward_max_iter: int | None = None,
        warm_start: bool = False,
        check: str = "auto",
        check_size: int = 64,
        require_stable: bool = True,
        atol: float = 0.0,
    ):
        super().__init__()
        if backward not in BACKWARD_MODES:
            raise ValueError(f"backward must be one of {BACKWARD_MODES}, got {backward!r}")
        if check not in CHECK_MODES:
            raise ValueError(f"check must be one of {CHECK_MODES}, got {check!r}")
        for label, value in (("tol", tol), ("backward_tol", backward_tol)):
            if value is not None and not value > 0:
                raise ValueError(f"{label} must be positive, got {value}")
        for label, value in (("max_iter", max_iter), ("backward_max_iter", backward_max_iter)):
            if value is not None and value < 1:
                raise ValueError(f"{label} must be at least 1, got {value}")
        self.tol = tol
        self.max_iter = max_iter
        self.backward = backward
        self.backward_tol = backward_tol
        self.backward_max_iter = backward_max_iter
        self.warm_start = warm_start
        self.check = check
        self.check_size = check_size
        self.require_stable = require_stable
        self.atol = atol
        self._previous: dict[str, torch.Tensor] = {}

    # -- handler ---------------------------------------------------------------------------
    def _pyro_equilibrate(self, msg) -> None:
        if msg["kwargs"].get("solver") is None:
            msg["kwargs"]["solver"] = self

    def with_options(self, **overrides: Any) -> EquilibriumSolver:
        """A copy with some options replaced (the warm-start memory is shared)."""
        if not overrides:
            return self
        unknown = set(overrides) - set(self._option_names())
        if unknown:
            raise TypeError(
                f"unknown option(s) {sorted(unknown)} for {type(self).__name__}; "
                f"options: {sorted(self._option_names())}"
            )
        clone = copy.copy(self)
        for key, value in overrides.items():
            setattr(clone, key, value)
        clone.__init_check__()
        return clone

    def __init_check__(self) -> None:
        if self.backward not in BACKWARD_MODES:
            raise ValueError(f"backward must be one of {BACKWARD_MODES}, got {self.backward!r}")

    def _option_names(self) -> list[str]:
        return [k for k in vars(self) if not k.startswith("_")]

    # -- solving ---------------------------------------------------------------------------
    def forward(self, f: Map, z0: torch.Tensor, tol: float, max_iter: int) -> ForwardResult:
        raise NotImplementedError

    def adjoint(
        self, vjp: Map, g: torch.Tensor, result: ForwardResult, tol: float, max_iter: int
    ) -> torch.Tensor:
        raise NotImplementedError

    default_max_iter = 1000

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
        self._check_equilibrium(f, result, system)
        if self.warm_start:
            self._previous[system] = result.z.detach()
        backward_tol = self.backward_tol or tol
        backward_max_iter = self.backward_max_iter or max_iter

        def adjoint_solver(vjp: Map, g: torch.Tensor) -> torch.Tensor:
            return self.adjoint(vjp, g, result, backward_tol, backward_max_iter)

        z = attach_implicit_gradient(f, result.z, adjoint_solver)
        return z, result.diagnostics(self.name)

    def _solve_unrolled(self, f, z0, system, tol, max_iter):
        result = self.forward(f, z0, tol, max_iter)
        self._raise_if_failed(result, system, tol)
        return result.z, result.diagnostics(self.name + "(unrolled)")

    def _raise_if_failed(self, result: ForwardResult, system: str, tol: float) -> None:
        if bool(result.state.get("singular", False)):
            raise EquilibriumError(
                f"equilibrate({system!r}): I - ∂F/∂x is singular (no locally unique "
                f"equilibrium) after {result.iterations} {self.name} iterations",
                residual=result.residual.detach(),
            )
        if not bool(torch.isfinite(result.z).all()) or not bool(result.converged.all()):
            worst = float(result.residual.detach().nan_to_num(float("inf")).max())
            failed = int((~result.converged).sum())
            raise EquilibriumError(
                f"equilibrate({system!r}): {self.name} did not converge in {result.iterations} "
                f"iterations: residual {worst:.3g} > tol {tol:.3g} in {failed} of "
                f"{result.converged.numel()} batch element(s); the map may not be a contraction "
                "(try Newton, a larger max_iter, damping beta < 1, or another init)",
                residual=result.residual.detach(),
            )

    def _check_equilibrium(self, f: Map, result: ForwardResult, system: str) -> None:
        n = result.z.shape[-1]
        if self.check == "never" or (self.check == "auto" and n > self.check_size):
            return
        jac = dense_jacobian(f, result.z).detach()
        eye = torch.eye(n, dtype=jac.dtype, device=jac.device)
        singular_values = torch.linalg.svdvals(eye - jac)
        smallest = singular_values[..., -1] / singular_values[..., 0].clamp_min(1e-300)
        if bool((smallest < 1e3 * n * torch.finfo(jac.dtype).eps).any()):
            raise EquilibriumError(
                f"equilibrate({system!r}): I - ∂F/∂x is singular at the solution (smallest "
                f"relative singular value {float(smallest.min()):.3g}): the equilibrium is "
                "not locally unique",
                residual=result.residual.detach(),
            )
        if self.require_stable:
            radius = torch.linalg.eigvals(jac).abs().amax(-1)
            if bool((radius >= 1.0).any()):
                raise EquilibriumError(
                    f"equilibrate({system!r}): the fixed point is not attracting: spectral "
                    f"radius of ∂F/∂x is {float(radius.max()):.4g} >= 1, so the system's "
                    "dynamics do not settle there (pass require_stable=False to accept it)",
                    residual=result.residual.detach(),
                )
            result.state["spectral_radius"] = radius


def default_solver(size: int) -> EquilibriumSolver:
    """The solver used when no solver handler is active: Newton (dense Jacobian + LU) for
    systems of at most 64 scalars, Anderson acceleration above."""
    from .anderson import Anderson
    from .newton import Newton

    return Newton() if size <= 64 else Anderson()
