"""LU factorizations of ``I - J`` for Newton's steps and the adjoint solves that reuse them."""

from __future__ import annotations

import math

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


def lapack_norm(array: np.ndarray, kind: str) -> float:
    """``||M||₁`` (``kind="1"``, column sums) or ``||M||∞`` (``"inf"``, row sums) of a C-ordered
    matrix by LAPACK's ``lange`` on its column-major transpose: one vector of sums instead of
    the ``n × n`` temporary ``|M|`` (a fresh buffer of that size costs page faults).

    >>> lapack_norm(np.array([[1.0, -2.0], [3.0, 0.5]]), "1"), lapack_norm(np.eye(2), "inf")
    (4.0, 1.0)
    """
    transposed = array.T
    lange = scipy.linalg.get_lapack_funcs("lange", (transposed,))
    return float(lange("I" if kind == "1" else "1", transposed))  # ||Mᵀ||∞ = ||M||₁


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


#: float64 matrices of at least this many rows are factored in float32 and refined
MIXED_MIN_SIZE = 512
#: most refinement steps of a mixed-precision solve before it falls back to a float64 LU
MIXED_MAX_REFINEMENTS = 10


class MixedLU:
    """A float64 matrix ``M`` factored in float32 (about twice as fast: half the bytes per
    flop), with solves refined against ``M`` itself to float64 accuracy, as LAPACK's
    ``dsgesv``: ``x ← x + LU₃₂⁻¹ (b - M x)`` until the residual is below ``ε ||M||∞ ||x||∞``
    (or stops decreasing below ``√n ε ||M||∞ ||x||∞``; each step gains about
    ``-log₁₀(cond(M) ε₃₂)`` digits). Where float32 fails (singular,
    overflow) or a refinement stagnates (``cond(M) ≳ 10⁷``), ``M`` is factored in float64 once
    and used from then on, so results are those of a float64 LU either way.

    :param m: a single float64 CPU matrix; kept (not overwritten) while the float32 factors
        serve, then overwritten by the float64 factorization.

    >>> m = torch.tensor([[4.0, 1.0], [2.0, 3.0]], dtype=torch.float64)
    >>> lu = MixedLU(m)
    >>> x = lu.solve(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> bool(torch.allclose(m @ x, torch.tensor([1.0, 2.0], dtype=torch.float64), atol=1e-15))
    True
    """

    def __init__(self, m: torch.Tensor):
        self.dtype, self.device = m.dtype, m.device
        self._m: torch.Tensor | None = m
        self._full: LU | None = None
        self._low = LU(m.to(torch.float32))
        norm = lapack_norm(as_array(m), "inf")
        eps = torch.finfo(m.dtype).eps
        # refine to a backward error of ε (a float64 LU's), accept √n ε (dsgesv's) when the
        # rounding of the residual itself stops the progress
        self._threshold, self._tolerance = eps * norm, m.shape[-1] ** 0.5 * eps * norm
        self._tiny = torch.finfo(m.dtype).tiny
        if bool(self._low.singular) or not math.isfinite(norm):
            self._factor_fully()
        self.singular = self._full.singular if self._full is not None else self._low.singular

    def _factor_fully(self) -> None:
        self._full, self._m, self._low = LU(self._m), None, None

    def solve(self, rhs: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """``M⁻¹ rhs`` (``transpose``: ``M⁻ᵀ rhs``) for ``rhs`` of shape ``(n,)``."""
        if self._full is None and as_array(rhs, matrix=False) is None:
            self._factor_fully()  # inside a torch.func transform: no data-dependent loop
        if self._full is None:
            x = self._refined(rhs, transpose)
            if x is not None:
                return x
            self._factor_fully()
        return self._full.solve(rhs, transpose)

    def _refined(self, rhs: torch.Tensor, transpose: bool) -> torch.Tensor | None:
        # in numpy: a dozen small operations per step, a few µs each instead of torch's ~10
        getrs, lu, pivots = self._low._lapack
        m, b = as_array(self._m), as_array(rhs, matrix=False)
        trans = 0 if transpose else 1  # the factors are those of Mᵀ (see LU)
        x = getrs(lu, pivots, b.astype(np.float32), trans=trans)[0].astype(np.float64)
        previous = math.inf
        for _ in range(MIXED_MAX_REFINEMENTS):
            residual = b - (x @ m if transpose else m @ x)
            size = float(np.abs(residual).max()) / max(float(np.abs(x).max()), self._tiny)
            if size <= self._threshold:
                return torch.from_numpy(x)
            if not size < 0.5 * previous:  # stagnating: at rounding level, or float32 fails
                return torch.from_numpy(x) if size <= self._tolerance else None
            previous = size
            x += getrs(lu, pivots, residual.astype(np.float32), trans=trans)[0]
        return None


def factorize(m: torch.Tensor) -> LU | MixedLU:
    """The factorization Newton uses for ``I - J``: :class:`MixedLU` for a single float64 CPU
    matrix of at least :data:`MIXED_MIN_SIZE` rows (kept), else :class:`LU` (may overwrite
    ``m``).

    >>> type(factorize(torch.eye(3, dtype=torch.float64))).__name__
    'LU'
    """
    large = m.dim() == 2 and m.shape[-1] >= MIXED_MIN_SIZE
    if large and m.dtype == torch.float64 and as_array(m) is not None:
        return MixedLU(m)
    return LU(m)
