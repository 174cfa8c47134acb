"""Anderson acceleration (Walker & Ni 2011), batched, with a ridge scaled to the problem."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .common import ForwardResult, relative_residual


def anderson(
    f: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 1_000,
    history: int = 8,
    beta: float = 1.0,
    ridge: float = 1e-12,
    atol: float = 0.0,
) -> ForwardResult:
    """Anderson-accelerated fixed-point iteration (difference form, normalized least squares).

    With ``g = f(z) - z`` and the last ``history`` differences ``ΔG``, ``ΔF`` of consecutive
    residuals and map values, each step solves ``γ = argmin ||g_k - ΔG γ||`` and moves to
    ``z + β g_k - (ΔF - (1 - β) ΔG) γ`` (equivalent to the constrained form of Walker & Ni).
    The columns of ``ΔG`` are normalized before the normal equations are formed and the Gram
    matrix gets a ridge ``ridge`` (never below ten machine epsilons) relative to its unit
    diagonal, so the regularization is scale-free and the solve stays accurate when residuals
    span many decades. A failed least-squares solve discards the history (restart). The best
    iterate of each batch element is returned. Differentiable (no in-place updates), so it can
    be unrolled.

    :param f: the map, batched over leading dimensions.
    :param z0: starting point, shape ``batch + (n,)``.
    :param tol: tolerance on the scale-invariant residual, per batch element.
    :param max_iter: maximal number of map evaluations.
    :param history: number of past differences mixed (``m``).
    :param beta: mixing parameter (1: undamped).
    :param ridge: relative Tikhonov regularization of the normalized least-squares problem.
    :param atol: floor of the residual's denominator.
    :returns: a :class:`ForwardResult`; ``state["history"]`` holds the first and the last
        ``history`` differences ``(ΔZ, ΔF)`` (shape ``batch' + (k, n)``, rows possibly scaled),
        from which the spectrum of ``∂f/∂z`` is estimated (Ritz values).

    >>> A = torch.tensor([[0.0, 0.9], [0.9, 0.0]], dtype=torch.float64)
    >>> result = anderson(lambda z: z @ A.T + 1.0, torch.zeros(1, 2, dtype=torch.float64))
    >>> [round(v, 6) for v in result.z[0].tolist()], result.iterations < 10
    ([10.0, 10.0], True)
    """
    batch_shape, n = z0.shape[:-1], z0.shape[-1]
    z = z0.reshape(-1, n)
    batch = z.shape[0]
    m = max(1, int(history))
    if len(batch_shape) == 1:
        fb = f
    else:

        def fb(x: torch.Tensor) -> torch.Tensor:
            return f(x.reshape(batch_shape + (n,))).reshape(batch, n)

    lam = max(ridge, 10 * torch.finfo(z.dtype).eps)
    tiny = max(torch.finfo(z.dtype).tiny, atol)
    if batch == 1 and z.device.type == "cpu" and not torch.is_grad_enabled():
        if len(batch_shape) == 0:
            flat = f  # the map takes and returns vectors: no reshapes needed
        else:

            def flat(x: torch.Tensor) -> torch.Tensor:
                return fb(x.reshape(1, n)).reshape(n)

        z, residual, iterations, state = _single_cpu(flat, z, tol, max_iter, m, beta, lam, tiny)
        return ForwardResult(
            z.reshape(batch_shape + (n,)),
            residual.reshape(batch_shape),
            iterations,
            (residual <= tol).reshape(batch_shape),
            state,
        )
    ridge_eye = None  # lam · I, built at the first mixing step
    norm = torch.linalg.vector_norm
    scalar = batch == 1  # bookkeeping in Python floats: fewer tensor ops per iteration
    fz = fb(z)
    g = fz - z
    residual = relative_residual(z, fz, atol)
    best_z, best_residual = z, residual
    best = residual.item() if scalar else None
    finite = not bool(torch.isnan(residual).any())
    # normalized differences of consecutive residuals (ΔG) and map values (ΔF, same scaling)
    d_g: list[torch.Tensor] = []
    d_f: list[torch.Tensor] = []
    early_g: list[torch.Tensor] = []
    early_f: list[torch.Tensor] = []
    iterations = 1
    while iterations < max_iter:
        if not finite:
            break  # diverged or NaN: the best iterate so far is reported
        if best <= tol if scalar else bool((best_residual <= tol).all()):
            break
        step = g if beta == 1.0 else beta * g
        z_new = None
        if d_g:
            k = len(d_g)
            dg, df = torch.stack(d_g, 1), torch.stack(d_f, 1)  # (batch, k, n)
            if ridge_eye is None:
                ridge_eye = lam * torch.eye(m, dtype=z.dtype, device=z.device)
            gram = torch.matmul(dg, dg.transpose(-1, -2)) + ridge_eye[:k, :k]
            gamma, info = torch.linalg.solve_ex(gram, torch.matmul(dg, g.unsqueeze(-1)))
            if (info.item() if scalar else int(info.max())) == 0:
                mix = df if beta == 1.0 else df - (1.0 - beta) * dg
                z_new = z + step - torch.matmul(gamma.transpose(-1, -2), mix).squeeze(-2)
            else:
                d_g, d_f = [], []  # degenerate history: restart from a plain step
        if z_new is None:
            z_new = fz if beta == 1.0 else z + step
        f_new = fb(z_new)
        g_new = f_new - z_new
        dg_new = g_new - g
        scale = 1.0 / norm(dg_new, dim=-1, keepdim=True).clamp_min(tiny)
        d_g.append(dg_new * scale)
        d_f.append((f_new - fz) * scale)
        if len(early_g) < m:  # the first differences, kept for the spectral estimate
            early_g.append(d_g[-1])
            early_f.append(d_f[-1])
        if len(d_g) > m:
            del d_g[0], d_f[0]
        z, fz, g = z_new, f_new, g_new
        iterations += 1
        residual = relative_residual(z, fz, atol)
        if scalar:
            value = residual.item()
            finite = not math.isnan(value)
            if value < best:
                best_z, best_residual, best = z, residual, value
        else:
            finite = not bool(torch.isnan(residual).any())
            improved = residual < best_residual
            best_z = torch.where(improved[:, None], z, best_z)
            best_residual = torch.where(improved, residual, best_residual)
    state = {}
    if early_g:
        d_fs, d_gs = torch.stack(early_f + d_f, 1), torch.stack(early_g + d_g, 1)
        state["history"] = (d_fs - d_gs, d_fs)
    return ForwardResult(
        best_z.reshape(batch_shape + (n,)),
        best_residual.reshape(batch_shape),
        iterations,
        (best_residual <= tol).reshape(batch_shape),
        state,
    )


def _single_cpu(f, z, tol, max_iter, m, beta, lam, tiny):
    """The same iteration for one system (``f`` maps vectors to vectors) on the CPU without
    autograd, with the least-squares bookkeeping in numpy and in-place ring buffers: a fraction
    of the per-iteration overhead, which dominates small and medium systems. Returns
    ``(best z, residual, iterations, state)``.
    """
    n = z.shape[-1]
    z, dtype = z.reshape(n), z.dtype
    hist_g = z.new_empty(m, n)  # ΔG rows (unnormalized), ring buffer
    hist_f = z.new_empty(m, n)  # ΔF rows
    gram = np.eye(m)  # Gram matrix of the unit-normalized ΔG rows, ridge on the diagonal
    norms = np.ones(m)  # ||ΔG_i||
    fz = f(z)
    g = fz - z
    best = _residual(g, z, tiny)
    best_z, finite = z, not math.isnan(best)
    iterations, count, slot = 1, 0, 0
    with np.errstate(all="ignore"):  # a diverging iterate is caught by the residual
        while iterations < max_iter and finite and not best <= tol:
            z_new = fz if beta == 1.0 else z + beta * g
            if count:
                k = min(count, m)
                rhs = (hist_g[:k] @ g).numpy() / norms[:k]
                try:
                    gamma = np.linalg.solve(gram[:k, :k], rhs) / norms[:k]
                except np.linalg.LinAlgError:
                    gamma = None
                if gamma is None or not np.isfinite(gamma).all():
                    count = slot = 0  # degenerate history: restart from a plain step
                else:
                    mix = hist_f[:k] if beta == 1.0 else hist_f[:k] - (1.0 - beta) * hist_g[:k]
                    gamma_t = torch.from_numpy(gamma).to(dtype)
                    z_new = torch.addmv(z_new, mix.transpose(0, 1), gamma_t, alpha=-1.0)
            f_new = f(z_new)
            g_new = f_new - z_new
            new_row = hist_g[slot]
            torch.sub(g_new, g, out=new_row)
            torch.sub(f_new, fz, out=hist_f[slot])
            k = min(count + 1, m)
            row = (hist_g[:k] @ new_row).numpy()
            norm = math.sqrt(max(float(row[slot]), 0.0)) or tiny
            norms[slot] = norm
            row = row / (norms[:k] * norm)
            row[slot] = 1.0 + lam
            gram[slot, :k] = row
            gram[:k, slot] = row
            count, slot = count + 1, (slot + 1) % m
            if count == m:  # the first differences, kept for the spectral estimate
                early = (hist_g.clone(), hist_f.clone())
            z, fz, g = z_new, f_new, g_new
            iterations += 1
            residual = _residual(g, z, tiny)
            finite = not math.isnan(residual)
            if residual < best:
                best, best_z = residual, z
    state = {}
    k = min(count, m)
    if k:
        d_g, d_f = hist_g[:k], hist_f[:k]
        if count > m:
            d_g, d_f = torch.cat([early[0], d_g]), torch.cat([early[1], d_f])
        state["history"] = ((d_f - d_g).unsqueeze(0), d_f.unsqueeze(0))
    residual = torch.tensor(best, dtype=dtype)
    return best_z.reshape(1, n), residual.reshape(1), iterations, state


def _residual(g: torch.Tensor, z: torch.Tensor, tiny: float) -> float:
    """``||g|| / max(||z||, tiny)`` as a float; NaN when a norm overflows or is NaN."""
    g_norm, z_norm = torch.linalg.vector_norm(torch.stack([g, z]), dim=-1).tolist()
    if not (math.isfinite(g_norm) and math.isfinite(z_norm)):
        return math.nan
    return g_norm / max(z_norm, tiny)
