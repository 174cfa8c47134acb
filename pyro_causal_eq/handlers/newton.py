"""Newton's method (dense Jacobian and LU) as a solver handler."""

from __future__ import annotations

import torch

from ..errors import EquilibriumError
from ..internals.solvers import anderson, newton
from .solver import EquilibriumSolver


class Newton(EquilibriumSolver):
    """Solve equilibria by Newton's method with a dense Jacobian and LU factorization.

    Exact in one step for linear systems; the right choice for small systems. The backward
    pass reuses the last LU factorization of ``I - J`` as a preconditioner of iterative
    refinement against exact vector-Jacobian products at the solution, so gradients are exact
    to ``backward_tol`` even when the last factorization was taken one step before the end.

    :param max_refinements: refinement steps of the adjoint before refactorizing at ``x*``.
    :param kwargs: common options of :class:`~pyro_causal_eq.handlers.solver.EquilibriumSolver`.

    >>> import pyro_causal_eq as pce
    >>> A = torch.tensor([[0.0, 0.5], [0.25, 0.0]], dtype=torch.float64)
    >>> with pce.Newton():
    ...     x = pce.equilibrate("s", {"x": lambda x: A @ x + 1.0},
    ...                         init={"x": torch.zeros(2, dtype=torch.float64)})
    >>> torch.allclose(x["x"], torch.linalg.solve(torch.eye(2, dtype=torch.float64) - A,
    ...                                            torch.ones(2, dtype=torch.float64)))
    True
    """

    name = "newton"
    default_max_iter = 50

    def __init__(self, *, max_refinements: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.max_refinements = max_refinements
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        if not self.max_refinements >= 1:
            raise ValueError(f"max_refinements must be at least 1, got {self.max_refinements}")

    def forward(self, f, z0, tol, max_iter):
        return newton(f, z0, tol=tol, max_iter=max_iter, atol=self.atol)

    def _solve_unrolled(self, f, z0, system, tol, max_iter):
        raise ValueError("backward='unrolled' needs an iterative solver: use Picard or Anderson")

    def adjoint(self, vjp, g, result, tol, max_iter):
        state = result.state
        with torch.no_grad():
            if "lu" not in state:  # converged before any step (e.g. a warm start)
                return self._adjoint_fresh(vjp, g, tol, max_iter)
            lu, pivots = state["lu"], state["pivots"]

            def precondition(r: torch.Tensor) -> torch.Tensor:
                return torch.linalg.lu_solve(lu, pivots, r.unsqueeze(-1), adjoint=True).squeeze(-1)

            u = precondition(g)
            scale = g.norm(dim=-1).clamp_min(torch.finfo(g.dtype).tiny)
            previous = None
            for _ in range(self.max_refinements):
                residual = g - (u - vjp(u))
                size = residual.norm(dim=-1)
                if bool((size <= tol * scale).all()):
                    return u
                if previous is not None and not bool((size < 0.5 * previous).any()):
                    break  # refinement stagnates (ill-conditioning): solve directly at x*
                previous = size
                u = u + precondition(residual)
            # The last factorization was taken away from x* (or I - J is ill-conditioned):
            # factor I - Jᵀ at the solution itself, a direct solve exact to conditioning.
            return self._adjoint_direct(vjp, g)

    def _adjoint_fresh(self, vjp, g, tol, max_iter):
        """The adjoint without a factorization: Anderson on ``u = Jᵀu + g`` for all but tiny
        systems, and ``Jᵀ`` from ``n`` vector-Jacobian products + LU otherwise."""
        n = g.shape[-1]
        if n > 16:
            back = anderson(lambda u: vjp(u) + g, g, tol=tol, max_iter=max(max_iter, 500))
            if bool(back.converged.all()):
                return back.z
        return self._adjoint_direct(vjp, g)

    @staticmethod
    def _adjoint_direct(vjp, g):
        """Solve ``(I - Jᵀ) u = g`` with ``Jᵀ`` built from ``n`` vector-Jacobian products."""
        n = g.shape[-1]
        eye = torch.eye(n, dtype=g.dtype, device=g.device)
        # Jᵀ from vector-Jacobian products with the unit vectors, batched over elements.
        basis = eye.expand(g.shape[:-1] + (n, n)).movedim(-2, 0)
        jac_t = torch.stack([vjp(e) for e in basis], dim=-1)  # (..., n, n): column i = Jᵀ e_i
        lu, pivots, info = torch.linalg.lu_factor_ex(eye - jac_t)
        if bool((info > 0).any()):
            raise EquilibriumError("implicit backward (newton): I - ∂F/∂x is singular")
        return torch.linalg.lu_solve(lu, pivots, g.unsqueeze(-1)).squeeze(-1)
