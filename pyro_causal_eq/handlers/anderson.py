"""Anderson acceleration as a solver handler."""

from __future__ import annotations

from ..internals.solvers import anderson
from ..internals.solvers.adjoint import iterative_solve
from .solver import EquilibriumSolver, Option


class Anderson(EquilibriumSolver):
    """Solve equilibria by Anderson acceleration; the adjoint ``u = Jᵀu + g`` likewise.

    :param history: number of past differences mixed (8: more did not reduce the iterations
        on the USEEIO tables or on random input-output tables, fewer sometimes did not converge).
    :param beta: mixing parameter in ``(0, 2]``.
    :param ridge: Tikhonov regularization of the least-squares problem with unit-normalized
        columns (so relative to the problem's scale; never below ten machine epsilons).
    :param kwargs: common options of :class:`~pyro_causal_eq.handlers.solver.EquilibriumSolver`.

    >>> import pyro_causal_eq as pce
    >>> with pce.Anderson(tol=1e-12, history=5):
    ...     x = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.zeros(())})
    >>> float(x["x"])
    2.0
    """

    name = "anderson"
    default_max_iter = 2000
    options = {
        "history": Option(8, lambda v: isinstance(v, int) and v >= 1, "an integer of at least 1"),
        "beta": Option(1.0, lambda v: 0 < v <= 2, "in (0, 2]"),
        "ridge": Option(1e-12, lambda v: v >= 0, "non-negative"),
    }

    def forward(self, f, z0, tol, max_iter):
        options = {"history": self.history, "beta": self.beta, "ridge": self.ridge}
        return anderson(f, z0, tol=tol, max_iter=max_iter, atol=self.atol, **options)

    def adjoint(self, vjp, g, result, tol, max_iter):
        options = {"history": self.history, "beta": self.beta, "ridge": self.ridge}
        return iterative_solve(vjp, g, tol, max_iter, "anderson", **options)
