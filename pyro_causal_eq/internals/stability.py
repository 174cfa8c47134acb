"""Is a fixed point locally unique and attracting? Dense tests and cheap estimates of the
spectral radius of ``J = ∂f/∂z`` (per batch element)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .solvers.norm_bound import norm_bound

__all__ = [
    "norm_bound",
    "power_radius",
    "relative_smallest_singular_value",
    "ritz_radius",
    "spectral_radius",
]


def relative_smallest_singular_value(jac: torch.Tensor) -> torch.Tensor:
    """``σ_min(I - J) / σ_max(I - J)`` (zero or NaN for a singular ``I - J``)."""
    eye = torch.eye(jac.shape[-1], dtype=jac.dtype, device=jac.device)
    singular_values = torch.linalg.svdvals(eye - jac)
    largest = singular_values[..., 0].clamp_min(torch.finfo(jac.dtype).tiny)
    return singular_values[..., -1] / largest


def spectral_radius(jac: torch.Tensor) -> torch.Tensor:
    """``max |λ(J)|`` from the eigenvalues (``O(n³)``, for small or ambiguous cases)."""
    return torch.linalg.eigvals(jac).abs().amax(-1)


def power_radius(
    apply: Callable[[torch.Tensor], torch.Tensor],
    like: torch.Tensor,
    steps: int = 40,
    tail: int = 10,
) -> torch.Tensor:
    """Estimate ``ρ(J)`` by power iteration with ``apply(v) = J v`` (or ``Jᵀ v``): the geometric
    mean growth over the last ``tail`` of ``steps`` normalized products, from a fixed
    pseudo-random start.

    >>> J = torch.tensor([[1.2, 0.3], [0.0, 0.5]], dtype=torch.float64)
    >>> round(float(power_radius(lambda v: v @ J.T, torch.zeros(2, dtype=torch.float64))), 6)
    1.2
    """
    generator = torch.Generator(device=like.device).manual_seed(0)
    v = torch.rand(like.shape, generator=generator, dtype=like.dtype, device=like.device) + 0.5
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)
    logs = []
    for _ in range(steps):
        w = apply(v)
        growth = torch.linalg.vector_norm(w, dim=-1, keepdim=True)
        logs.append(growth.squeeze(-1).clamp_min(torch.finfo(like.dtype).tiny).log())
        v = w / growth.clamp_min(torch.finfo(like.dtype).tiny)
    return torch.stack(logs[-tail:]).mean(0).exp()


def ritz_radius(d_z: torch.Tensor, d_f: torch.Tensor, rcond: float = 1e-6) -> torch.Tensor:
    """Largest Ritz value modulus of ``J`` on the span of the differences ``ΔZ`` of the
    iterates, from ``ΔF ≈ J ΔZ`` (rows of shape ``(..., k, n)``): a free by-product of Anderson
    acceleration, used to decide whether the dearer :func:`power_radius` is worth running.

    Works in the ``k × k`` Gram space (``ΔZ ΔZᵀ = V S² Vᵀ``, ``U = ΔZᵀ V S⁻¹``, Ritz matrix
    ``Uᵀ J U ≈ S⁻¹ Vᵀ ΔZ ΔFᵀ V S⁻¹``), dropping directions below ``rcond`` of the largest.

    >>> J = torch.tensor([[0.5, 0.2], [0.0, 2.0]], dtype=torch.float64)
    >>> d_z = torch.tensor([[1.0, 0.0], [0.3, 1.0]], dtype=torch.float64)
    >>> round(float(ritz_radius(d_z, d_z @ J.T)), 6)
    2.0
    """
    gram = d_z @ d_z.transpose(-1, -2)
    cross = d_z @ d_f.transpose(-1, -2)
    squares, v = torch.linalg.eigh(gram)
    keep = squares > (rcond**2) * squares[..., -1:].clamp_min(torch.finfo(gram.dtype).tiny)
    s_inv = torch.where(keep, squares.clamp_min(torch.finfo(gram.dtype).tiny).rsqrt(), 0.0)
    ritz = s_inv.unsqueeze(-1) * (v.transpose(-1, -2) @ cross @ v) * s_inv.unsqueeze(-2)
    return torch.linalg.eigvals(ritz).abs().amax(-1)
