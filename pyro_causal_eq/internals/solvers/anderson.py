"""Anderson acceleration (Walker & Ni 2011), batched, with a ridge scaled to the problem."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .common import ForwardResult, StallMonitor, relative_residual


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
    stall_window: int = 0,
    stall_budget: float = math.inf,
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
    :param stall_window: if positive, stop early (``state["handover"]`` gives the reason) when
        a :class:`~.common.StallMonitor` with this window finds the iteration diverging,
        stagnating or predicted to need more than ``stall_budget`` further iterations.
    :param stall_budget: see ``stall_window``.
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
    fb = f if len(batch_shape) == 1 else _flattened(f, batch_shape, n, batch)
    lam = max(ridge, 10 * torch.finfo(z.dtype).eps)
    tiny = max(torch.finfo(z.dtype).tiny, atol)
    monitor = StallMonitor(stall_window, stall_budget, tol) if stall_window else None
    options = (tol, max_iter, m, beta, lam, tiny, monitor)
    if batch == 1 and z.device.type == "cpu" and not torch.is_grad_enabled():
        flat = f if len(batch_shape) == 0 else _flattened(fb, torch.Size([]), n, 1)
        z, residual, iterations, state = _single_cpu(flat, z, *options)
    else:
        z, residual, iterations, state = _batched(fb, z, atol, *options)
    return ForwardResult(
        z.reshape(batch_shape + (n,)),
        residual.reshape(batch_shape),
        iterations,
        (residual <= tol).reshape(batch_shape),
        state,
    )


def _flattened(f, batch_shape, n, batch):
    """``f`` on a ``(batch, n)`` (or, for ``batch_shape == ()``, ``(n,)``) view of the state."""

    def flat(x: torch.Tensor) -> torch.Tensor:
        return f(x.reshape(batch_shape + (n,))).reshape(x.shape)

    return flat


class _History:
    """The last ``m`` normalized differences ``ΔG``, ``ΔF`` (plus the first ``m``, kept for
    the spectral estimate of the stability check)."""

    def __init__(self, m: int):
        self.m = m
        self.d_g: list[torch.Tensor] = []
        self.d_f: list[torch.Tensor] = []
        self.early_g: list[torch.Tensor] = []
        self.early_f: list[torch.Tensor] = []

    def append(self, d_g: torch.Tensor, d_f: torch.Tensor) -> None:
        self.d_g.append(d_g)
        self.d_f.append(d_f)
        if len(self.early_g) < self.m:
            self.early_g.append(d_g)
            self.early_f.append(d_f)
        if len(self.d_g) > self.m:
            del self.d_g[0], self.d_f[0]

    def state(self) -> dict:
        if not self.early_g:
            return {}
        d_fs = torch.stack(self.early_f + self.d_f, 1)
        d_gs = torch.stack(self.early_g + self.d_g, 1)
        return {"history": (d_fs - d_gs, d_fs)}


def _mixed_point(z, fz, g, history, beta, ridge_eye, scalar):
    """The Anderson point ``z + β g - (ΔF - (1 - β) ΔG) γ`` (a plain step without history);
    a failed least-squares solve clears the history (restart)."""
    step = g if beta == 1.0 else beta * g
    if history.d_g:
        k = len(history.d_g)
        dg, df = torch.stack(history.d_g, 1), torch.stack(history.d_f, 1)  # (batch, k, n)
        gram = torch.matmul(dg, dg.transpose(-1, -2)) + ridge_eye[:k, :k]
        gamma, info = torch.linalg.solve_ex(gram, torch.matmul(dg, g.unsqueeze(-1)))
        if (info.item() if scalar else int(info.max())) == 0:
            mix = df if beta == 1.0 else df - (1.0 - beta) * dg
            return z + step - torch.matmul(gamma.transpose(-1, -2), mix).squeeze(-2)
        history.d_g, history.d_f = [], []
    return fz if beta == 1.0 else z + step


def _batched(fb, z, atol, tol, max_iter, m, beta, lam, tiny, monitor):
    """The general iteration (batched, differentiable: no in-place updates)."""
    ridge_eye = lam * torch.eye(m, dtype=z.dtype, device=z.device)
    scalar = z.shape[0] == 1  # bookkeeping in Python floats: fewer tensor ops per iteration
    fz = fb(z)
    g = fz - z
    residual = relative_residual(z, fz, atol)
    best_z, best_residual = z, residual
    history, state = _History(m), {}
    iterations = 1
    while iterations < max_iter:
        if bool(torch.isnan(residual).any()) or bool((best_residual <= tol).all()):
            break  # converged, or diverged/NaN (the best iterate so far is reported)
        z_new = _mixed_point(z, fz, g, history, beta, ridge_eye, scalar)
        f_new = fb(z_new)
        g_new = f_new - z_new
        scale = 1.0 / torch.linalg.vector_norm(g_new - g, dim=-1, keepdim=True).clamp_min(tiny)
        history.append((g_new - g) * scale, (f_new - fz) * scale)
        z, fz, g = z_new, f_new, g_new
        iterations += 1
        residual = relative_residual(z, fz, atol)
        improved = residual < best_residual
        best_z = torch.where(improved[:, None], z, best_z)
        best_residual = torch.where(improved, residual, best_residual)
        if monitor is not None:
            worst_best = float(best_residual.max())
            worst_now = float(residual.nan_to_num(float("inf")).max())
            reason = monitor.update(iterations, worst_best, worst_now)
            if reason is not None:
                state["handover"] = reason
                break
    state.update(history.state())
    return best_z, best_residual, iterations, state


def _single_cpu(f, z, tol, max_iter, m, beta, lam, tiny, monitor):
    """The same iteration for one system (``f`` maps vectors to vectors) on the CPU without
    autograd, with the least-squares bookkeeping in numpy and in-place ring buffers: a fraction
    of the per-iteration overhead, which dominates small and medium systems. Returns
    ``(best z, residual, iterations, state)``.
    """
    n = z.shape[-1]
    z, dtype = z.reshape(n), z.dtype
    ring = _Ring(z, m, lam)
    fz = f(z)
    g = fz - z
    best = _residual(g, z, tiny)
    best_z, finite = z, not math.isnan(best)
    iterations, state = 1, {}
    with np.errstate(all="ignore"):  # a diverging iterate is caught by the residual
        while iterations < max_iter and finite and not best <= tol:
            z_new = ring.mixed_point(z, fz, g, beta)
            f_new = f(z_new)
            g_new = f_new - z_new
            ring.push(g_new - g, f_new - fz)
            z, fz, g = z_new, f_new, g_new
            iterations += 1
            residual = _residual(g, z, tiny)
            finite = not math.isnan(residual)
            if residual < best:
                best, best_z = residual, z
            reason = monitor.update(iterations, best, residual) if monitor else None
            if reason is not None:
                state["handover"] = reason
                break
    state.update(ring.state())
    residual = torch.tensor(best, dtype=dtype)
    return best_z.reshape(1, n), residual.reshape(1), iterations, state


class _Ring:
    """In-place ring buffers of ``ΔG`` / ``ΔF`` rows and the Gram matrix of the unit-normalized
    ``ΔG`` rows (numpy, ridge on the diagonal) for :func:`_single_cpu`."""

    def __init__(self, z: torch.Tensor, m: int, lam: float):
        n = z.shape[-1]
        self.m, self.lam, self.dtype = m, lam, z.dtype
        self.hist_g, self.hist_f = z.new_empty(m, n), z.new_empty(m, n)
        self.gram, self.norms = np.eye(m), np.ones(m)
        self.count = self.slot = 0
        self.early = None

    def mixed_point(self, z, fz, g, beta):
        z_new = fz if beta == 1.0 else z + beta * g
        if not self.count:
            return z_new
        k = min(self.count, self.m)
        rhs = (self.hist_g[:k] @ g).numpy() / self.norms[:k]
        try:
            gamma = np.linalg.solve(self.gram[:k, :k], rhs) / self.norms[:k]
        except np.linalg.LinAlgError:
            gamma = None
        if gamma is None or not np.isfinite(gamma).all():
            self.count = self.slot = 0  # degenerate history: restart from a plain step
            return z_new
        hist_f, hist_g = self.hist_f[:k], self.hist_g[:k]
        mix = hist_f if beta == 1.0 else hist_f - (1.0 - beta) * hist_g
        gamma_t = torch.from_numpy(gamma).to(self.dtype)
        return torch.addmv(z_new, mix.transpose(0, 1), gamma_t, alpha=-1.0)

    def push(self, d_g: torch.Tensor, d_f: torch.Tensor) -> None:
        slot = self.slot
        self.hist_g[slot].copy_(d_g)
        self.hist_f[slot].copy_(d_f)
        k = min(self.count + 1, self.m)
        row = (self.hist_g[:k] @ self.hist_g[slot]).numpy()
        norm = math.sqrt(max(float(row[slot]), 0.0)) or torch.finfo(self.dtype).tiny
        self.norms[slot] = norm
        row = row / (self.norms[:k] * norm)
        row[slot] = 1.0 + self.lam
        self.gram[slot, :k] = row
        self.gram[:k, slot] = row
        self.count, self.slot = self.count + 1, (slot + 1) % self.m
        if self.count == self.m:  # the first differences, kept for the spectral estimate
            self.early = (self.hist_g.clone(), self.hist_f.clone())

    def state(self) -> dict:
        k = min(self.count, self.m)
        if not k:
            return {}
        d_g, d_f = self.hist_g[:k], self.hist_f[:k]
        if self.count > self.m:
            d_g, d_f = torch.cat([self.early[0], d_g]), torch.cat([self.early[1], d_f])
        return {"history": ((d_f - d_g).unsqueeze(0), d_f.unsqueeze(0))}


def _residual(g: torch.Tensor, z: torch.Tensor, tiny: float) -> float:
    """``||g|| / max(||z||, tiny)`` as a float; NaN when a norm overflows or is NaN."""
    g_norm, z_norm = torch.linalg.vector_norm(torch.stack([g, z]), dim=-1).tolist()
    if not (math.isfinite(g_norm) and math.isfinite(z_norm)):
        return math.nan
    return g_norm / max(z_norm, tiny)
