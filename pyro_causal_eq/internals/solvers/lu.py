"""LU factorizations of ``I - J`` for Newton's steps and the adjoint solves that reuse them."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch


class LU:
    """The LU factorization of a (batch of) square matrix ``M``, with solves of ``M x = b`` and
    ``Mᵀ x = b``.

    A single float32/float64 CPU matrix is factored by LAPACK's ``getrf`` through SciPy (about
    25 % faster than ``torch.linalg.lu_factor_ex`` here at 400-1000 rows, and in place: the
    transpose of a row-major matrix is column-major, so ``Mᵀ`` is factored without a copy and
    the solves swap ``trans``); anything else by torch.

    :param m: the matrix, shape ``batch + (n, n)``; **overwritten** by the CPU path.

    >>> m = torch.tensor([[2.0, 1.0], [0.0, 4.0]], dtype=torch.float64)
    >>> lu = LU(m.clone())
    >>> lu.solve(torch.tensor([3.0, 4.0], dtype=torch.float64)).tolist(), bool(lu.singular)
    ([1.0, 1.0], False)
    >>> lu.solve(torch.tensor([2.0, 5.0], dtype=torch.float64), transpose=True).tolist()
    [1.0, 1.0]
    """

    def __init__(self, m: torch.Tensor):
        self.dtype, self.device = m.dtype, m.device
        self._lapack = None
        array = as_array(m)
        if array is not None:
            array = array.T  # column-major view of Mᵀ
            getrf, getrs = scipy.linalg.get_lapack_funcs(("getrf", "getrs"), (array,))
            lu, pivots, info = getrf(array, overwrite_a=True)
            self._lapack = (getrs, lu, pivots)
            finite = bool(np.isfinite(lu.sum())) or bool(np.isfinite(lu).all())
            self.singular = torch.tensor(info > 0 or not finite, device=m.device)
        else:
            lu, pivots, info = torch.linalg.lu_factor_ex(m)
            self._torch = (lu, pivots)
            total = lu.sum((-2, -1))
            finite = torch.isfinite(total)
            if not bool(finite.all()):  # an overflowing sum, or a non-finite entry
                finite = torch.isfinite(lu).flatten(-2).all(-1)
            self.singular = (info > 0) | ~finite

    def solve(self, rhs: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """``M⁻¹ rhs`` (``transpose``: ``M⁻ᵀ rhs``) for ``rhs`` of shape ``batch + (n,)``."""
        if self._lapack is not None:
            getrs, lu, pivots = self._lapack
            array = as_array(rhs, matrix=False)
            # the factors are those of Mᵀ: M x = b is (Mᵀ)ᵀ x = b
            if array is not None:
                x, _ = getrs(lu, pivots, array, trans=0 if transpose else 1)
                return torch.from_numpy(np.ascontiguousarray(x)).to(self.dtype)
            # rhs without storage (inside a torch.func transform): torch's solve, same factors
            factors = torch.from_numpy(lu).to(rhs.dtype)
            pivots = torch.from_numpy(pivots + 1).to(torch.int32)
            rhs = rhs.unsqueeze(-1)
            return torch.linalg.lu_solve(factors, pivots, rhs, adjoint=not transpose).squeeze(-1)
        lu, pivots = self._torch
        return torch.linalg.lu_solve(lu, pivots, rhs.unsqueeze(-1), adjoint=transpose).squeeze(-1)


def as_array(t: torch.Tensor, matrix: bool = True) -> np.ndarray | None:
    """A numpy view of a single float32/float64 CPU matrix (or vector) with storage, else
    ``None`` (batched, on a device, requiring grad, or wrapped by a ``torch.func`` transform)."""
    if (
        t.dim() != (2 if matrix else 1)
        or t.device.type != "cpu"
        or t.dtype not in (torch.float32, torch.float64)
        or t.requires_grad
        or (matrix and not t.is_contiguous())
    ):
        return None
    try:
        return t.numpy()
    except RuntimeError:  # no storage: a functorch wrapper
        return None
