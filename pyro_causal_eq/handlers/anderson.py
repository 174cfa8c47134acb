"""Anderson acceleration as a solver handler."""

from __future__ import annotations

import torch

from ..errors import EquilibriumError
from ..internals.solvers import anderson
from .solver import EquilibriumSolver


class Anderson(EquilibriumSolver):
    """Solve equilibria by Anderson acceleration; the adjoint ``u = Jᵀu + g`` likewise.

    :param history: number of past iterates mixed.
    :param beta: mixing parameter.
    :param ridge: Tikhonov regularization relative to the Gram matrix's mean diagonal.
    :param kwargs: common options of :class:`~pyro_causal_eq.handlers.solver.EquilibriumSolver`.

    >>> import pyro_causal_eq as pce
    >>> with pce.Anderson(tol=1e-12, history=5):
    ...     x = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.zeros(())})
    >>> float(x["x"])
    2.0
    """

    name = "anderson"
    default_max_iter = 2000

    def __init__(self, *, history: int = 8, beta: float = 1.0, ridge: float = 1e-10, **kwargs):
        super().__init__(**kwargs)
        if history < 1:
            raise ValueError(f"history must be at least 1, got {history}")
        self.history = history
        self.beta = beta
        self.ridge = ridge

    def forward(self, f, z0, tol, max_iter):
        return anderson(
            f, z0, tol=tol, max_iter=max_iter, history=self.history, beta=self.beta,
            ridge=self.ridge, atol=self.atol,
        )

    def adjoint(self, vjp, g, result, tol, max_iter):
        with torch.no_grad():
            back = anderson(
                lambda u: vjp(u) + g, g, tol=tol, max_iter=max_iter, history=self.history,
                beta=self.beta, ridge=self.ridge, atol=self.atol,
            )
        if not bool(back.converged.all()):
            raise EquilibriumError(
                f"implicit backward (anderson) did not converge in {back.iterations} iterations "
                f"(residual {float(back.residual.max()):.3g}): I - ∂F/∂x may be singular",
                residual=back.residual,
            )
        return back.z
