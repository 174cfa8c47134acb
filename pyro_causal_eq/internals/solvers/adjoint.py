"""Adjoint solves ``u = Jᵀu + g`` (``J = ∂f/∂z`` at the fixed point, given by ``vjp(u) = Jᵀu``)
and their transposes ``w = J w + h`` (for higher-order derivatives), one per solver family."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...errors import EquilibriumError
from .anderson import anderson
from .picard import picard

Product = Callable[[torch.Tensor], torch.Tensor]


def direct_solve(apply: Product, g: torch.Tensor, what: str = "adjoint") -> torch.Tensor:
    """Solve ``(I - K) u = g`` with ``K`` built column by column from ``apply(e_i) = K e_i``.

    >>> K = torch.tensor([[0.5, 0.0], [0.25, 0.5]], dtype=torch.float64)
    >>> direct_solve(lambda v: v @ K.T, torch.ones(2, dtype=torch.float64))
    tensor([2., 3.], dtype=torch.float64)
    """
    n = g.shape[-1]
    eye = torch.eye(n, dtype=g.dtype, device=g.device)
    basis = eye.expand(g.shape[:-1] + (n, n)).movedim(-2, 0)
    matrix = torch.stack([apply(e) for e in basis], dim=-1)  # column i = K e_i
    lu, pivots, info = torch.linalg.lu_factor_ex(eye - matrix)
    if bool((info > 0).any()):
        raise EquilibriumError(f"implicit backward ({what}): I - ∂F/∂x is singular")
    return torch.linalg.lu_solve(lu, pivots, g.unsqueeze(-1)).squeeze(-1)


def iterative_solve(apply, g, tol, max_iter, method: str = "anderson", **options):
    """Solve ``u = apply(u) + g`` by Anderson (or Picard) with ``options`` of that solver;
    raise when it does not converge."""
    solver = picard if method == "picard" else anderson
    with torch.no_grad():
        back = solver(lambda u: apply(u) + g, g, tol=tol, max_iter=max_iter, **options)
    if not bool(back.converged.all()):
        raise EquilibriumError(
            f"implicit backward ({method}) did not converge in {back.iterations} iterations "
            f"(residual {float(back.residual.max()):.3g}): I - ∂F/∂x may be singular",
            residual=back.residual,
        )
    return back.z


def generic_solve(apply, g, tol, max_iter) -> torch.Tensor:
    """Anderson for all but tiny systems (direct when it fails), direct for tiny ones."""
    if g.shape[-1] > 16:
        with torch.no_grad():
            back = anderson(lambda u: apply(u) + g, g, tol=tol, max_iter=max(max_iter, 500))
        if bool(back.converged.all()):
            return back.z
    with torch.no_grad():
        return direct_solve(apply, g)


def lu_refined_solve(apply, g, state, tol, max_iter, max_refinements=20, transpose=True):
    """``u = apply(u) + g`` preconditioned by the LU of ``I - J`` kept by Newton in ``state``
    (``transpose``: ``apply = Jᵀ·``), refined against exact products so it is exact at the
    solution even though the factorization was taken one step before it; a stagnating
    refinement (stale or ill-conditioned factors) falls back to a direct solve."""
    with torch.no_grad():
        if "lu" not in state:  # converged before any step (e.g. a warm start)
            return generic_solve(apply, g, tol, max_iter)
        lu = state["lu"]

        def precondition(r: torch.Tensor) -> torch.Tensor:
            return lu.solve(r, transpose=transpose)

        u = precondition(g)
        scale = g.norm(dim=-1).clamp_min(torch.finfo(g.dtype).tiny)
        previous = None
        for _ in range(max_refinements):
            residual = g - (u - apply(u))
            size = residual.norm(dim=-1)
            if bool((size <= tol * scale).all()):
                return u
            if previous is not None and not bool((size < 0.5 * previous).any()):
                break
            previous = size
            u = u + precondition(residual)
        return direct_solve(apply, g)
