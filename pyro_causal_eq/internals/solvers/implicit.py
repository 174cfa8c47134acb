"""Implicit differentiation of a fixed point ``z* = f(z*, θ)``.

``dL/dθ = uᵀ ∂f/∂θ`` with ``u = (I - ∂f/∂z)⁻ᵀ dL/dz*``. The adjoint ``u`` is computed by a
backward solver (LU reuse, or a fixed point ``u = Jᵀu + g``) and then pushed through one
differentiable evaluation ``f(z*)`` to reach every parameter the mechanisms close over.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

VJP = Callable[[torch.Tensor], torch.Tensor]
AdjointSolver = Callable[[VJP, torch.Tensor], torch.Tensor]


class _ImplicitFixedPoint(torch.autograd.Function):
    """Identity on values (returns ``z*``); backward solves for the adjoint of ``f(z*)``."""

    @staticmethod
    def forward(ctx, f_out, z_leaf, z_star, adjoint_solver):  # noqa: D102
        ctx.f_out = f_out  # kept to build vector-Jacobian products in backward
        ctx.z_leaf = z_leaf
        ctx.adjoint_solver = adjoint_solver
        return z_star.clone()

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        f_out, z_leaf = ctx.f_out, ctx.z_leaf

        def vjp(v: torch.Tensor) -> torch.Tensor:
            (out,) = torch.autograd.grad(f_out, z_leaf, v, retain_graph=True, allow_unused=True)
            return torch.zeros_like(v) if out is None else out

        u = ctx.adjoint_solver(vjp, grad)
        return u, None, None, None


def attach_implicit_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    z_star: torch.Tensor,
    adjoint_solver: AdjointSolver,
    tol: float = 1e-12,
    max_iter: int = 1000,
) -> torch.Tensor:
    """Return ``z*`` (same values) carrying the implicit gradient with respect to ``f``'s params.

    If no parameter of ``f`` requires a gradient, ``z*`` is returned detached.

    :param f: the map whose fixed point ``z_star`` is.
    :param z_star: the (detached) fixed point.
    :param adjoint_solver: ``(vjp, g) -> u`` solving ``u = vjp(u) + g``.

    >>> theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    >>> f = lambda z: 0.5 * z + theta
    >>> def picard_adjoint(vjp, g):
    ...     u = g
    ...     for _ in range(60):
    ...         u = vjp(u) + g
    ...     return u
    >>> z = attach_implicit_gradient(f, torch.tensor([2.0], dtype=torch.float64), picard_adjoint)
    >>> z.sum().backward(); float(theta.grad)  # dz*/dθ = 1 / (1 - 0.5)
    2.0
    """
    z_star = z_star.detach()
    if not torch.is_grad_enabled():
        return z_star
    with torch.enable_grad():
        if not f(z_star).requires_grad:
            return z_star
        z_leaf = z_star.clone().requires_grad_(True)
        f_out = f(z_leaf)
    return _ImplicitFixedPoint.apply(f_out, z_leaf, z_star, adjoint_solver)
