"""Anderson acceleration as a solver handler."""

from __future__ import annotations

import torch

from ..errors import EquilibriumError
from ..internals.solvers import anderson
from .solver import EquilibriumSolver


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

    def __init__(self, *, history: int = 8, beta: float = 1.0, ridge: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.history = history
        self.beta = beta
        self.ridge = ridge
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        if not (isinstance(self.history, int) and self.history >= 1):
            raise ValueError(f"history must be an integer of at least 1, got {self.history}")
        if not 0 < self.beta <= 2:
            raise ValueError(f"beta must be in (0, 2], got {self.beta}")
        if not self.ridge >= 0:
            raise ValueError(f"ridge must be non-negative, got {self.ridge}")

    def _iterate(self, f, z0, tol, max_iter):
        return anderson(
            f,
            z0,
            tol=tol,
            max_iter=max_iter,
            history=self.history,
            beta=self.beta,
            ridge=self.ridge,
            atol=self.atol,
        )

    def forward(self, f, z0, tol, max_iter):
        return self._iterate(f, z0, tol, max_iter)

    def adjoint(self, vjp, g, result, tol, max_iter):
        with torch.no_grad():
            back = self._iterate(lambda u: vjp(u) + g, g, tol, max_iter)
        if not bool(back.converged.all()):
            raise EquilibriumError(
                f"implicit backward (anderson) did not converge in {back.iterations} iterations "
                f"(residual {float(back.residual.max()):.3g}): I - ∂F/∂x may be singular",
                residual=back.residual,
            )
        return back.z
