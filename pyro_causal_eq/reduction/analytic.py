"""Evaluating a learned TCR: the absolute cosine to a reference map.

The analytic solution of a linear Gaussian SCM (Proposition 3.3) lives with the simulators
(:func:`pyro_causal_eq.simulators.linear_gaussian_solution`) and is re-exported here.
"""

from __future__ import annotations

import torch

from ..simulators.analytic import linear_gaussian_solution

__all__ = ["abs_cosine", "linear_gaussian_solution"]


def abs_cosine(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Absolute cosine similarity ``|<u, v>| / (‖u‖ ‖v‖)`` over the last dimension (sign-safe,
    as TCR maps are defined up to a common scale).

    :param u: tensor ``(..., N)``.
    :param v: tensor ``(..., N)``.

    >>> float(abs_cosine(torch.tensor([1., 2.]), torch.tensor([-2., -4.])))
    1.0
    """
    u, v = torch.as_tensor(u), torch.as_tensor(v)
    if u.shape[-1] != v.shape[-1]:
        raise ValueError(f"shapes {tuple(u.shape)} and {tuple(v.shape)} differ in the last dim")
    dtype = torch.promote_types(u.dtype, v.dtype)
    u, v = torch.broadcast_tensors(u.to(dtype), v.to(dtype))
    nu, nv = u.norm(dim=-1), v.norm(dim=-1)
    if bool(((nu == 0) | (nv == 0)).any()):
        raise ValueError("abs_cosine is undefined for a zero vector")
    return ((u * v).sum(-1) / (nu * nv)).abs()
