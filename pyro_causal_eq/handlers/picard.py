"""Forward (Picard) iteration as a solver handler."""

from __future__ import annotations

import torch

from ..errors import EquilibriumError
from ..internals.solvers import picard
from .solver import EquilibriumSolver


class Picard(EquilibriumSolver):
    """Solve equilibria by damped forward iteration ``x <- (1 - β) x + β F(x)``.

    :param beta: damping factor.
    :param kwargs: common options of :class:`~pyro_causal_eq.handlers.solver.EquilibriumSolver`.

    >>> import pyro_causal_eq as pce
    >>> with pce.Picard(tol=1e-12):
    ...     x = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.zeros(())})
    >>> round(float(x["x"]), 10)
    2.0
    """

    name = "picard"
    default_max_iter = 10_000

    def __init__(self, *, beta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = beta
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        if not 0 < self.beta <= 2:
            raise ValueError(f"beta must be in (0, 2], got {self.beta}")

    def forward(self, f, z0, tol, max_iter):
        return picard(f, z0, tol=tol, max_iter=max_iter, beta=self.beta, atol=self.atol)

    def adjoint(self, vjp, g, result, tol, max_iter):
        with torch.no_grad():
            back = picard(lambda u: vjp(u) + g, g, tol=tol, max_iter=max_iter, beta=self.beta)
        if not bool(back.converged.all()):
            raise EquilibriumError(
                f"implicit backward (picard) did not converge in {back.iterations} iterations "
                f"(residual {float(back.residual.max()):.3g})",
                residual=back.residual,
            )
        return back.z
