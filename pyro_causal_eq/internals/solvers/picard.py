"""Forward (Picard) iteration ``z <- (1 - beta) z + beta f(z)``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .common import ForwardResult, relative_residual


def picard(
    f: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 10_000,
    beta: float = 1.0,
    atol: float = 0.0,
) -> ForwardResult:
    """Damped forward iteration until the relative residual is at most ``tol``.

    :param f: the map, batched over leading dimensions.
    :param z0: starting point, shape ``batch + (n,)``.
    :param tol: tolerance on the scale-invariant residual, per batch element.
    :param max_iter: maximal number of map evaluations.
    :param beta: damping (1 is plain iteration).

    >>> result = picard(lambda z: 0.5 * z + 1.0, torch.zeros(1, 1, dtype=torch.float64))
    >>> round(float(result.z), 8), bool(result.converged.all())
    (2.0, True)
    """
    z = z0
    fz = f(z)
    residual = relative_residual(z, fz, atol)
    iterations = 1
    while iterations < max_iter and not bool((residual <= tol).all()):
        z = fz if beta == 1.0 else (1.0 - beta) * z + beta * fz
        fz = f(z)
        iterations += 1
        residual = relative_residual(z, fz, atol)
        if bool(torch.isnan(residual).any()):
            break  # diverged
    return ForwardResult(z, residual, iterations, residual <= tol)
