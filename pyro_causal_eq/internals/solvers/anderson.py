"""Anderson acceleration (Walker & Ni 2011), batched, with a ridge scaled to the problem."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .common import ForwardResult, is_finite, relative_residual


def anderson(
    f: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 1_000,
    history: int = 5,
    beta: float = 1.0,
    ridge: float = 1e-10,
    atol: float = 0.0,
) -> ForwardResult:
    """Anderson-accelerated fixed-point iteration.

    Each step mixes the last ``history`` iterates with weights ``a`` minimizing
    ``||Σ a_i g_i||`` subject to ``Σ a_i = 1`` where ``g_i = f(z_i) - z_i``. The Gram matrix
    is regularized by ``ridge`` times its mean diagonal, so the regularization is relative to
    the problem's scale rather than absolute.

    :param f: the map, batched over leading dimensions.
    :param z0: starting point, shape ``batch + (n,)``.
    :param tol: tolerance on the scale-invariant residual, per batch element.
    :param max_iter: maximal number of map evaluations.
    :param history: number of past iterates mixed (``m``).
    :param beta: mixing parameter (1: undamped; the paper found 2 good for large systems).
    :param ridge: relative Tikhonov regularization of the least-squares problem.

    >>> A = torch.tensor([[0.0, 0.9], [0.9, 0.0]], dtype=torch.float64)
    >>> result = anderson(lambda z: z @ A.T + 1.0, torch.zeros(1, 2, dtype=torch.float64))
    >>> [round(v, 6) for v in result.z[0].tolist()], result.iterations < 10
    ([10.0, 10.0], True)
    """
    batch_shape, n = z0.shape[:-1], z0.shape[-1]
    z = z0.reshape(-1, n)
    batch = z.shape[0]
    m = max(1, history)
    xs = z.new_zeros(batch, m, n)
    gs = z.new_zeros(batch, m, n)

    def fb(x: torch.Tensor) -> torch.Tensor:
        return f(x.reshape(batch_shape + (n,))).reshape(batch, n)

    fz = fb(z)
    residual = relative_residual(z, fz, atol)
    best_z, best_residual = z, residual
    iterations = 1
    k = 0
    while iterations < max_iter and not bool((best_residual <= tol).all()):
        slot = k % m
        xs[:, slot] = z
        gs[:, slot] = fz - z
        filled = min(k + 1, m)
        if filled == 1:
            z = z + beta * (fz - z)
        else:
            g = gs[:, :filled]
            gram = g @ g.transpose(-1, -2)
            scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).clamp_min(
                torch.finfo(z.dtype).tiny
            )
            # the ridge never drops below the dtype's resolution of the Gram matrix
            lam = max(ridge, 10 * torch.finfo(z.dtype).eps) * scale
            gram = gram + lam[..., None] * torch.eye(filled, dtype=z.dtype, device=z.device)
            ones = torch.ones(batch, filled, 1, dtype=z.dtype, device=z.device)
            w, info = torch.linalg.solve_ex(gram, ones)
            alpha = w / w.sum(-2, keepdim=True)
            if bool((info > 0).any()) or not is_finite(alpha):  # degenerate history: restart
                alpha = torch.zeros_like(alpha)
                alpha[:, slot] = 1.0
            x_mix = (alpha * xs[:, :filled]).sum(-2)
            g_mix = (alpha * g).sum(-2)
            z = x_mix + beta * g_mix
        fz = fb(z)
        iterations += 1
        k += 1
        residual = relative_residual(z, fz, atol)
        if not (is_finite(fz) and is_finite(z)):
            break
        improved = residual < best_residual
        if bool(improved.any()):
            best_z = torch.where(improved[:, None], z, best_z)
            best_residual = torch.where(improved, residual, best_residual)
    return ForwardResult(
        best_z.reshape(batch_shape + (n,)),
        best_residual.reshape(batch_shape),
        iterations,
        (best_residual <= tol).reshape(batch_shape),
    )
