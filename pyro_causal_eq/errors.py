"""Exceptions raised by :mod:`pyro_causal_eq`."""

from __future__ import annotations


class EquilibriumError(RuntimeError):
    """An equilibrium could not be found, or is not locally unique.

    Raised when a fixed-point solver does not reach its tolerance (the message names the
    system, the solver, the iterations used and the residual reached), when the iterates
    diverge or become NaN, and when ``I - ∂F/∂x`` is singular (or, for attracting-equilibrium
    checks, when the spectral radius of ``∂F/∂x`` is at least one).

    :param message: human-readable description.
    :param residual: the scale-invariant residual reached (per batch element), if any.

    >>> err = EquilibriumError("no convergence", residual=1e-3)
    >>> err.residual
    0.001
    """

    def __init__(self, message: str, residual=None):
        super().__init__(message)
        self.residual = residual
