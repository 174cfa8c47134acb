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


class UnsupportedTransformError(TypeError):
    """``pce.equilibrate`` was called under a ``torch.func`` transform it cannot support.

    The forward solve is an iteration with data-dependent stopping, which ``torch.func.vmap``
    and forward-mode transforms (``jvp``, ``jacfwd``, ``hessian``) cannot trace. Supported:
    ``torch.func.grad`` / ``vjp`` / ``jacrev`` (nested too, e.g. ``jacrev(grad(f))`` for a
    Hessian), and plain autograd (``torch.autograd.grad(create_graph=True)``,
    ``torch.autograd.functional.hessian``). Batch parameters along leading dimensions (plates)
    instead of ``vmap``.

    >>> issubclass(UnsupportedTransformError, TypeError)
    True
    """
