"""Solver configuration as a handler: the base class of :class:`Anderson`, :class:`Picard`,
:class:`Newton`, and the automatic default used when none is active."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from pyro.poutine.messenger import Messenger

from ..errors import EquilibriumError
from ..internals import stability
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

    Subclasses implement :meth:`forward` and :meth:`adjoint`; :meth:`with_options` gives a
    reconfigured copy:

    >>> import pyro_causal_eq as pce
    >>> solver = pce.Anderson(tol=1e-10).with_options(max_iter=50, warm_start=True)
    >>> solver.tol, solver.max_iter, solver.warm_start
    (1e-10, 50, True)
    >>> with solver:  # innermost handler wins; per-call overrides win over both
    ...     out = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0},
    ...                           init={"x": torch.zeros((), dtype=torch.float64)}, tol=1e-12)
    >>> round(float(out["x"]), 10)
    2.0
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
        EquilibriumSolver._validate(self)

    def _validate(self) -> None:
        """Raise a ``ValueError`` naming the first invalid option (subclasses extend it)."""
        if self.backward not in BACKWARD_MODES:
            raise ValueError(f"backward must be one of {BACKWARD_MODES}, got {self.backward!r}")
        if self.check not in CHECK_MODES:
            raise ValueError(f"check must be one of {CHECK_MODES}, got {self.check!r}")
        for label in ("tol", "backward_tol"):
            value = getattr(self, label)
            if value is not None and not value > 0:
                raise ValueError(f"{label} must be positive, got {value}")
        for label in ("max_iter", "backward_max_iter"):
            value = getattr(self, label)
            if value is not None and not value >= 1:
                raise ValueError(f"{label} must be at least 1, got {value}")
        if not self.atol >= 0:
            raise ValueError(f"atol must be non-negative, got {self.atol}")
        if not self.check_size >= 0:
            raise ValueError(f"check_size must be non-negative, got {self.check_size}")

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
        clone._validate()
        return clone

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
        detached = ForwardResult(
            result.z.detach(),
            result.residual.detach(),
            result.iterations,
            result.converged,
            {k: tuple(t.detach() for t in v) for k, v in result.state.items() if k == "history"},
        )
        self._check_equilibrium(f, detached, system)
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
        """Raise unless the solution is a locally unique (and, with ``require_stable``,
        attracting) equilibrium.

        Up to ``check_size`` scalars (or with ``check="always"``) the Jacobian at the solution
        is formed densely (or taken from Newton's last step): a norm bound below one settles
        it at once, otherwise the singular values of ``I - J`` and the eigenvalues of ``J``
        decide. Larger systems reuse what the solver has: Newton's last Jacobian (norm bound,
        then power iteration, eigenvalues unless the estimate is clearly below one), Anderson's
        history (Ritz values; a power iteration with vector-Jacobian products confirms a
        suspected instability, so strongly non-normal contractions may rarely be flagged;
        ``check="always"`` decides exactly).
        Picard only converges to attracting fixed points.
        """
        if self.check == "never":
            return
        n = result.z.shape[-1]
        dense = self.check == "always" or n <= self.check_size
        # Newton's last Jacobian (one converged step before the solution) stands in for J
        jac = result.state.get("jacobian")
        if jac is None and dense:
            jac = dense_jacobian(f, result.z).detach()
        if jac is not None:
            if bool((stability.norm_bound(jac) < 0.99).all()):
                return
            if dense:
                smallest = stability.relative_smallest_singular_value(jac)
                if not bool((smallest >= 10 * n * torch.finfo(jac.dtype).eps).all()):
                    raise EquilibriumError(
                        f"equilibrate({system!r}): I - ∂F/∂x is singular at the solution "
                        f"(smallest relative singular value {float(smallest.min()):.3g}): the "
                        "equilibrium is not locally unique",
                        residual=result.residual.detach(),
                    )
            if not self.require_stable:
                return
            if dense:
                radius = stability.spectral_radius(jac)
            else:  # power iteration settles clear contractions; eigenvalues decide the rest
                radius = stability.power_radius(
                    lambda v: (jac @ v.unsqueeze(-1)).squeeze(-1), result.z
                )
                if not bool((radius < 0.97).all()):
                    radius = stability.spectral_radius(jac)
            self._raise_if_unstable(radius, system, result)
            return
        history = result.state.get("history")
        if self.require_stable and history is not None:
            if bool((stability.ritz_radius(*history) < 1.0).all()):
                return
            with torch.enable_grad():
                z_leaf = result.z.detach().requires_grad_(True)
                out = f(z_leaf)

            def vjp(v: torch.Tensor) -> torch.Tensor:
                (grad,) = torch.autograd.grad(out, z_leaf, v, retain_graph=True, allow_unused=True)
                return torch.zeros_like(v) if grad is None else grad

            self._raise_if_unstable(stability.power_radius(vjp, result.z), system, result)

    def _raise_if_unstable(self, radius: torch.Tensor, system: str, result: ForwardResult):
        result.state["spectral_radius"] = radius
        if bool((radius >= 1.0).any()) or not bool(torch.isfinite(radius).all()):
            raise EquilibriumError(
                f"equilibrate({system!r}): the fixed point is not attracting: spectral radius "
                f"of ∂F/∂x is {float(radius.max()):.4g} >= 1, so the system's dynamics do not "
                "settle there (pass require_stable=False to accept it)",
                residual=result.residual.detach(),
            )


#: systems of at most this many scalars are solved by Newton when no solver is chosen
NEWTON_MAX_SIZE = 160


def default_solver(size: int) -> EquilibriumSolver:
    """The solver used when no solver handler is active: Newton (dense Jacobian + LU) for
    systems of at most :data:`NEWTON_MAX_SIZE` scalars, Anderson acceleration above.

    The threshold is where the dense Jacobian (about ``n³`` flops per Newton step, plus a fixed
    cost of vectorized autodiff) starts to cost more than the Python overhead of Anderson's
    iterations: measured (float64, one thread, forward + implicit backward) at about 150
    scalars for ``x = tanh(W x + b)`` and about 250 for linear systems.

    >>> type(default_solver(10)).__name__, type(default_solver(1000)).__name__
    ('Newton', 'Anderson')
    """
    from .anderson import Anderson
    from .newton import Newton

    return Newton() if size <= NEWTON_MAX_SIZE else Anderson()
