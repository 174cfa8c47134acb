"""Forward (Picard) iteration as a solver handler."""

from __future__ import annotations

from ..internals.solvers import picard
from ..internals.solvers.adjoint import iterative_solve
from .solver import EquilibriumSolver, Option


class Picard(EquilibriumSolver):
    """Solve equilibria by damped forward iteration ``x <- (1 - β) x + β F(x)``.

    :param beta: damping factor in ``(0, 2]``.
    :param kwargs: common options of :class:`~pyro_causal_eq.handlers.solver.EquilibriumSolver`.

    >>> import torch, pyro_causal_eq as pce
    >>> with pce.Picard(tol=1e-12):
    ...     x = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.zeros(())})
    >>> round(float(x["x"]), 10)
    2.0
    """

    name = "picard"
    default_max_iter = 10_000
    options = {"beta": Option(1.0, lambda v: 0 < v <= 2, "in (0, 2]")}

    def forward(self, f, z0, tol, max_iter):
        return picard(f, z0, tol=tol, max_iter=max_iter, beta=self.beta, atol=self.atol)

    def adjoint(self, vjp, g, result, tol, max_iter):
        return iterative_solve(vjp, g, tol, max_iter, "picard", beta=self.beta)
