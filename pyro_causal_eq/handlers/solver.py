"""Solver configuration as a handler: the base class of :class:`Anderson`, :class:`Picard`
and :class:`Newton`. The pipeline they share, and the automatic default used when none is
active, live in :mod:`pyro_causal_eq.internals`."""

from __future__ import annotations

from pyro.poutine.messenger import Messenger

from ..internals.auto_solver import NEWTON_MAX_SIZE, default_solver
from ..internals.solver_core import Option, SolverCore, default_tol

__all__ = ["NEWTON_MAX_SIZE", "EquilibriumSolver", "Option", "default_solver", "default_tol"]


class EquilibriumSolver(SolverCore, Messenger):
    """Answers :func:`~pyro_causal_eq.equilibrate` calls inside its context with this solver.

    The innermost solver handler wins; per-call ``solver_overrides`` of ``equilibrate`` update
    its options. Nesting order with :func:`~pyro_causal_eq.do` does not matter. Subclasses
    declare their own ``options`` and implement ``forward`` and ``adjoint``.

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
    :param derivative_order: highest order of exact derivatives through the equilibrium
        (default 2: gradients and Hessians; ``k``: ``k`` frozen-Jacobian Newton steps, one
        more differentiable evaluation of the mechanisms per order, no cost to first-order
        backward passes).

    >>> import torch, pyro_causal_eq as pce
    >>> solver = pce.Anderson(tol=1e-10).with_options(max_iter=50, warm_start=True)
    >>> solver.tol, solver.max_iter, solver.warm_start
    (1e-10, 50, True)
    >>> with solver:  # innermost handler wins; per-call overrides win over both
    ...     out = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0},
    ...                           init={"x": torch.zeros((), dtype=torch.float64)}, tol=1e-12)
    >>> round(float(out["x"]), 10)
    2.0
    """

    def _pyro_equilibrate(self, msg) -> None:
        if msg["kwargs"].get("solver") is None:
            msg["kwargs"]["solver"] = self
