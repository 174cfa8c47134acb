"""Shared pieces of the fixed-point solvers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


def relative_residual(z: torch.Tensor, fz: torch.Tensor, atol: float = 0.0) -> torch.Tensor:
    """Scale-invariant residual ``||z - f(z)|| / max(||z||, tiny)`` per batch element.

    >>> relative_residual(torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0, 1e-3]]))
    tensor([0.0005])
    """
    tiny = max(torch.finfo(z.dtype).tiny, atol)
    return (z - fz).norm(dim=-1) / z.norm(dim=-1).clamp_min(tiny)


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
            "max_residual": float(self.residual.max()) if self.residual.numel() else 0.0,
            "converged": bool(self.converged.all()),
        }


def is_finite(z: torch.Tensor) -> bool:
    return bool(torch.isfinite(z).all())
