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
    sufficient_decrease: float = 0.9,
) -> ForwardResult:
    """Solve ``z = f(z)`` by Newton steps ``z <- z + (I - J)^{-1} (f(z) - z)``, safeguarded.

    Exact in one step for affine maps. When the full step does not shrink the residual norm
    ``||f(z) - z||`` of a batch element by the factor ``sufficient_decrease``, the better of a
    forward (Picard) step ``z <- f(z)`` and the step halved (up to ``max_backtracks`` times) is
    taken for that element instead, so Newton cannot cycle on a contraction. The LU factors of
    ``I - J`` at the last Jacobian are kept in ``state["lu"]`` for the implicit backward pass;
    ``state["jacobian"]`` holds ``J``.

    :param f: the map, batched over leading dimensions.
    :param z0: starting point, shape ``batch + (n,)``.
    :param tol: tolerance on the scale-invariant residual, per batch element.
    :param max_iter: maximal number of Newton steps.
    :param atol: floor of the residual's denominator.
    :param max_backtracks: maximal number of step halvings.
    :param sufficient_decrease: accept a step that multiplies the residual norm by at most this.

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
        if not (is_finite(fz) and is_finite(z)):
            break
        jac = dense_jacobian(f, z)
        lu, pivots, info = torch.linalg.lu_factor_ex(eye - jac)
        state = {"lu": lu, "pivots": pivots, "jacobian": jac, "info": info}
        if bool((info > 0).any()) or not is_finite(lu):
            state["singular"] = True
            break
        step = torch.linalg.lu_solve(lu, pivots, (fz - z).unsqueeze(-1)).squeeze(-1)
        z, fz = _safeguarded_step(f, z, fz, step, tol, atol, max_backtracks, sufficient_decrease)
        residual = relative_residual(z, fz, atol)
        iterations += 1
    return ForwardResult(z, residual, iterations, residual <= tol, state)


def _safeguarded_step(f, z, fz, step, tol, atol, max_backtracks, sufficient_decrease):
    """The full Newton step where it works; else the best of a Picard step and backtracking."""
    merit = (fz - z).norm(dim=-1)
    target = sufficient_decrease * merit
    z_new = z + step
    f_new = f(z_new)
    best_merit = _merit(z_new, f_new)
    good = (best_merit <= target) | (relative_residual(z_new, f_new, atol) <= tol)
    if bool(good.all()):
        return z_new, f_new
    best_z, best_f = z_new, f_new
    candidates = [(fz, None)]  # the Picard step z <- f(z)
    candidates += [(None, 0.5**k) for k in range(1, max_backtracks + 1)]
    for picard_point, t in candidates:
        z_try = picard_point if picard_point is not None else z + t * step
        f_try = f(z_try)
        merit_try = _merit(z_try, f_try)
        better = merit_try < best_merit
        best_z = torch.where(better.unsqueeze(-1), z_try, best_z)
        best_f = torch.where(better.unsqueeze(-1), f_try, best_f)
        best_merit = torch.where(better, merit_try, best_merit)
        if bool((best_merit <= target).all()):
            break
    return best_z, best_f


def _merit(z: torch.Tensor, fz: torch.Tensor) -> torch.Tensor:
    """``||f(z) - z||`` per batch element, with NaN mapped to infinity."""
    return (fz - z).norm(dim=-1).nan_to_num(float("inf"), float("inf"), float("inf"))
