"""Sparse technical coefficients: conversion (scipy.sparse or torch sparse ``A`` -> CSR), the
Leontief solves ``(I - diag(α) A) x = b`` by sparse LU (``scipy.sparse.linalg.splu``), with a
torch autograd function for the gradient path (the backward pass is one transposed solve),
and a spectral-radius bound that never forms a dense matrix."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu


def is_sparse(A) -> bool:
    """Whether ``A`` is a scipy.sparse matrix / array or a torch sparse tensor."""
    return sp.issparse(A) or (isinstance(A, torch.Tensor) and A.layout != torch.strided)


def to_csr(A) -> sp.csr_matrix:
    """``A`` as a float64 scipy CSR matrix (from scipy.sparse or any torch sparse layout).

    >>> to_csr(torch.eye(2).to_sparse()).toarray()
    array([[1., 0.],
           [0., 1.]])
    """
    if isinstance(A, torch.Tensor):
        coo = A.detach().cpu().to_sparse_coo().coalesce()
        rows, cols = coo.indices().numpy()
        A = sp.coo_matrix((coo.values().double().numpy(), (rows, cols)), shape=tuple(coo.shape))
    return sp.csr_matrix(A, dtype=np.float64)


#: above this many sectors (or a too dense ``A``: LU fill-in) the sparse solves are Krylov
#: (GMRES to a 1e-13 relative residual) instead of sparse LU
LU_MAX_SIZE = 4000


class _Krylov:
    """GMRES solves of ``(I - M) x = b`` and ``(I - M)ᵀ u = g`` (the ``splu`` interface)."""

    def __init__(self, matrix: sp.csr_matrix):
        self.matrix = matrix

    def solve(self, rhs, trans: str = "N"):
        from scipy.sparse.linalg import gmres

        matrix = self.matrix.T.tocsr() if trans == "T" else self.matrix
        x, info = gmres(matrix, rhs, rtol=1e-13, atol=0.0, restart=100, maxiter=200)
        residual = np.abs(matrix @ x - rhs).max() / max(np.abs(rhs).max(), 1e-300)
        if info != 0 and residual > 1e-10:
            raise RuntimeError(f"GMRES on I - diag(α) A did not converge (residual {residual:.3g})")
        return x


def leontief_lu(A: sp.spmatrix, alpha=None):
    """A factorization of ``I - diag(α) A`` (``α = 1`` by default) with ``.solve(b, trans)``:
    sparse LU up to :data:`LU_MAX_SIZE` sectors, GMRES above (LU fill-in of an MRIO with
    dense trade blocks approaches a dense matrix)."""
    n = A.shape[0]
    M = A if alpha is None else sp.diags(np.asarray(alpha, dtype=np.float64)) @ A
    matrix = sp.identity(n, format="csr") - M
    if n > LU_MAX_SIZE:
        return _Krylov(sp.csr_matrix(matrix))
    return splu(matrix.tocsc())


def solve(A, rhs: np.ndarray, alpha=None) -> np.ndarray:
    """``(I - diag(α) A)⁻¹ rhs`` for a dense or sparse ``A``.

    >>> A = sp.csr_matrix([[0.1, 0.2], [0.3, 0.1]])
    >>> solve(A, np.array([1.0, 2.0])).round(4)
    array([1.7333, 2.8   ])
    """
    if sp.issparse(A):
        return leontief_lu(A, alpha).solve(np.asarray(rhs, dtype=np.float64))
    M = A if alpha is None else np.asarray(alpha)[:, None] * A
    return np.linalg.solve(np.eye(A.shape[0]) - M, rhs)


class SparseLeontief(torch.autograd.Function):
    """``x(α) = (I - diag(α) A)⁻¹ (α ⊙ y)`` (assignment) or ``(I - A)⁻¹ (α ⊙ y)`` (demand) by
    sparse LU; backward: ``∂L/∂α = z ⊙ (I - diag(α) A)⁻ᵀ ∂L/∂x`` with ``z = A x + y`` (resp.
    ``y ⊙ (I - A)⁻ᵀ ∂L/∂x``)."""

    @staticmethod
    def forward(ctx, alpha, A, y, target):
        a = alpha.detach().cpu().numpy()
        lu = leontief_lu(A, a if target == "assignment" else None)
        x = lu.solve(a * y)
        ctx.lu, ctx.target = lu, target
        ctx.z = A @ x + y if target == "assignment" else y
        return torch.as_tensor(x, dtype=alpha.dtype, device=alpha.device)

    @staticmethod
    def backward(ctx, grad):
        u = ctx.lu.solve(grad.detach().cpu().numpy(), trans="T")
        return torch.as_tensor(ctx.z * u, dtype=grad.dtype, device=grad.device), None, None, None


def sparse_output(io, alpha: torch.Tensor, target: str = "assignment") -> torch.Tensor:
    """``x(α)`` of a sparse :class:`IOModel`, differentiable in ``α`` (sparse LU both ways)."""
    return SparseLeontief.apply(alpha, io.A, io.y, target)


def spectral_radius_bound(A, tol: float = 1e-10, iterations: int = 2000) -> float:
    """Spectral radius of a nonnegative sparse ``A`` (``|A|`` otherwise, an upper bound):
    the cheap norm bound when below 1, else power iteration on ``|A|`` (Perron root).

    >>> round(spectral_radius_bound(sp.csr_matrix([[0.0, 0.5], [0.5, 0.0]])), 6)
    0.5
    """
    absA = abs(sp.csr_matrix(A))
    cheap = min(absA.sum(axis=0).max(), absA.sum(axis=1).max()) if absA.nnz else 0.0
    if cheap < 1.0:
        return float(cheap)
    v = np.ones(absA.shape[0])
    radius = 0.0
    for _ in range(iterations):
        w = absA @ v + 1e-12 * v.sum() / len(v)  # tiny shift: converges on reducible A too
        new = float(w.max() / max(v.max(), 1e-300))
        v = w / w.max()
        if abs(new - radius) <= tol * max(new, 1e-300):
            return new
        radius = new
    return radius
