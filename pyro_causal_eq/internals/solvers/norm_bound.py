"""A cheap upper bound of the spectral radius of a Jacobian, without an ``n × n`` temporary."""

from __future__ import annotations

import math

import torch

from .lu import as_array, lapack_norm


def norm_bound(jac: torch.Tensor, enough: float | None = None) -> torch.Tensor:
    """``min(||J||₁, ||J||∞)`` per batch element: an upper bound of the spectral radius. Below
    one, ``I - J`` is invertible (Neumann series) and the fixed point attracting, with no
    factorization. With ``enough``, a single CPU matrix whose ``||J||₁`` (the cheaper norm
    here; column sums, below one for input-output tables) is below it returns that bound.

    A single CPU matrix goes through LAPACK's ``lange``, which keeps one row of sums instead
    of the ``n × n`` temporary ``|J|``: a fresh allocation of that size costs more in page
    faults than the sums themselves (on some machines several times the LU). Anything else
    (batches, devices, ``torch.func`` wrappers) by torch.

    :param jac: ``J``, shape ``batch + (n, n)``.
    :param enough: a bound below which the second norm is not needed.

    >>> norm_bound(torch.tensor([[0.5, 0.2], [0.1, 0.3]]))  # column sums 0.6, 0.5
    tensor(0.6000)
    """
    array = as_array(jac)
    if array is not None:
        columns = lapack_norm(array, "1")
        if enough is not None and columns < enough:
            return torch.tensor(columns, dtype=jac.dtype, device=jac.device)
        rows = lapack_norm(array, "inf")
        bound = math.nan if math.isnan(columns) or math.isnan(rows) else min(columns, rows)
        return torch.tensor(bound, dtype=jac.dtype, device=jac.device)
    absolute = jac.abs()
    return torch.minimum(absolute.sum(-1).amax(-1), absolute.sum(-2).amax(-1))
