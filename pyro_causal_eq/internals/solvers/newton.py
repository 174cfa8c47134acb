"""Newton's method with a dense Jacobian and an LU factorization (reused by the backward pass)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .common import ForwardResult, is_finite, relative_residual
from .jacobian import dense_jacobian


def newton(
    f: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    atol: float = 0.0,
    max_backtracks: int = 8,
) -> ForwardResult:
    """Solve ``z = f(z)`` by Newton steps ``z <- z + (I - J)^{-1} (f(z) - z)``.

    Exact in one step for affine maps. A step that increases the residual is halved (up to
    ``max_backtracks`` times). The LU factors of ``I - J`` at the last Jacobian are kept in
    ``state["lu"]`` for the implicit backward pass; ``state["jacobian"]`` holds ``J``.

    :param f: the map, batched over leading dimensions.
    :param z0: starting point, shape ``batch + (n,)``.
    :param tol: tolerance on the scale-invariant residual, per batch element.
    :param max_iter: maximal number of Newton steps.

    >>> result = newton(lambda z: 0.5 * z + 1.0, torch.zeros(1, dtype=torch.float64))
    >>> float(result.z), result.iterations
    (2.0, 1)
    """
    n = z0.shape[-1]
    eye = torch.eye(n, dtype=z0.dtype, device=z0.device)
    z = z0
    fz = f(z)
    residual = relative_residual(z, fz, atol)
    iterations = 0
    state: dict = {}
    while iterations < max_iter and not bool((residual <= tol).all()):
        if not is_finite(fz):
            break
        jac = dense_jacobian(f, z)
        lu, pivots, info = torch.linalg.lu_factor_ex(eye - jac)
        state = {"lu": lu, "pivots": pivots, "jacobian": jac, "info": info}
        if bool((info > 0).any()) or not is_finite(lu):
            state["singular"] = True
            break
        step = torch.linalg.lu_solve(lu, pivots, (fz - z).unsqueeze(-1)).squeeze(-1)
        t = 1.0
        for _ in range(max_backtracks + 1):
            z_new = z + t * step
            f_new = f(z_new)
            r_new = relative_residual(z_new, f_new, atol)
            if is_finite(f_new) and bool((r_new <= residual).all() | (r_new <= tol).all()):
                break
            t *= 0.5
        z, fz, residual = z_new, f_new, r_new
        iterations += 1
    return ForwardResult(z, residual, iterations, residual <= tol, state)
