"""Shared pieces of the fixed-point solvers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch


def relative_residual(z: torch.Tensor, fz: torch.Tensor, atol: float = 0.0) -> torch.Tensor:
    """Scale-invariant residual ``||z - f(z)|| / max(||z||, tiny)`` per batch element; NaN
    where a norm is not finite (a diverging or NaN iterate).

    >>> relative_residual(torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0, 1e-3]]))
    tensor([0.0005])
    """
    tiny = max(torch.finfo(z.dtype).tiny, atol)
    z_norm = torch.linalg.vector_norm(z, dim=-1)
    g_norm = torch.linalg.vector_norm(z - fz, dim=-1)
    residual = g_norm / z_norm.clamp_min(tiny)
    # NaN marks divergence: an overflowing ||z|| must not pass for a zero residual (a start at
    # the origin legitimately gives an infinite residual, not NaN)
    finite = torch.isfinite(z_norm) & torch.isfinite(g_norm)
    return residual.masked_fill_(~finite, float("nan"))


@dataclass
class ForwardResult:
    """What a forward solve returns: the fixed point and its diagnostics.

    :param z: the solution, shape ``batch + (n,)``.
    :param residual: per batch element scale-invariant residual at ``z``.
    :param iterations: iterations (map evaluations for Picard/Anderson, Newton steps).
    :param converged: per batch element, ``residual <= tol``.
    :param state: solver-specific data reused by the backward pass (e.g. an LU factorization).
    """

    z: torch.Tensor
    residual: torch.Tensor
    iterations: int
    converged: torch.Tensor
    state: dict[str, Any] = field(default_factory=dict)

    def diagnostics(self, solver: str) -> dict[str, Any]:
        return {
            "solver": solver,
            "iterations": self.iterations,
            "residual": self.residual.detach(),
            "max_residual": float(self.residual.detach().max()) if self.residual.numel() else 0.0,
            "converged": bool(self.converged.all()),
        }


def is_finite(z: torch.Tensor) -> bool:
    return bool(torch.isfinite(z).all())


class StallMonitor:
    """Decides when an iterative solver should hand over to a direct one: its best residual
    diverges (``divergence`` times above the best), stagnates (less than 10 % lower over
    ``window`` iterations, measured from the first update) or converges so slowly that more
    than ``budget`` further iterations are predicted (geometric rate over the last window).

    >>> monitor = StallMonitor(window=2, budget=10, tol=1e-12)
    >>> [monitor.update(k, 0.9**k, 0.9**k) for k in range(1, 4)]
    [None, 'slow (rate 0.9: ~260 more iterations predicted)', None]
    """

    def __init__(self, window: int, budget: float, tol: float, divergence: float = 1e3):
        self.window, self.budget, self.tol, self.divergence = window, budget, tol, divergence
        self._checkpoint: tuple[int, float] | None = None

    def update(self, iteration: int, best: float, current: float) -> str | None:
        """The reason to hand over after ``iteration`` (``None``: keep iterating). The first
        call sets the reference point, so the first verdict comes at the first multiple of
        ``window`` after it."""
        if not current <= self.divergence * best:  # also NaN
            return f"diverging (residual {current:.3g}, best {best:.3g})"
        if self._checkpoint is None:
            self._checkpoint = (iteration, best)
            return None
        if iteration % self.window:
            return None
        (start, previous), self._checkpoint = self._checkpoint, (iteration, best)
        if best <= self.tol or iteration <= start:
            return None
        if not best < 0.9 ** ((iteration - start) / self.window) * previous:
            return f"stagnating (residual {best:.3g} after {iteration} iterations)"
        rate = (best / previous) ** (1.0 / (iteration - start))
        remaining = math.log(self.tol / best) / math.log(rate)
        if remaining > self.budget:
            return f"slow (rate {rate:.3g}: ~{remaining:.0f} more iterations predicted)"
        return None
