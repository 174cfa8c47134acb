"""Newton's method (dense Jacobian and LU, globalized) as a solver handler."""

from __future__ import annotations

from ..internals.solvers import newton
from ..internals.solvers.adjoint import lu_refined_solve
from .solver import EquilibriumSolver, Option


class Newton(EquilibriumSolver):
    """Solve equilibria by globalized Newton steps: dense Jacobian, LU, Armijo line search on
    the merit ``||F(x) - x||²`` and a Levenberg-Marquardt step where the Newton direction fails
    (see :func:`pyro_causal_eq.internals.solvers.newton`). Exact in one step for linear
    systems; the right choice for small systems. It does not hand over to another solver: a
    stationary point of the merit that is not a root raises ``EquilibriumError`` (the
    automatic default then tries Anderson). The backward pass reuses the last LU of ``I - J``
    as a preconditioner of iterative refinement against exact vector-Jacobian products at the
    solution, so gradients are exact to ``backward_tol``.

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
    options = {"max_refinements": Option(20, lambda v: v >= 1, "at least 1")}

    def forward(self, f, z0, tol, max_iter):
        return newton(f, z0, tol=tol, max_iter=max_iter, atol=self.atol)

    def _solve_unrolled(self, f, z0, system, tol, max_iter):
        raise ValueError("backward='unrolled' needs an iterative solver: use Picard or Anderson")

    def adjoint(self, vjp, g, result, tol, max_iter):
        return lu_refined_solve(vjp, g, result.state, tol, max_iter, self.max_refinements)
