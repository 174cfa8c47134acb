"""The rotation group ``SO(n)`` acting on vector-valued nodes by ``x ↦ R x``."""

from __future__ import annotations

import torch

from .base import LieGroupElement, as_tensor, check_finite, dimension_from_algebra


def skew_from_coordinates(omega: torch.Tensor) -> torch.Tensor:
    """The skew-symmetric matrix ``S`` with ``S[j, i] = omega_k`` for the pairs ``i < j`` in
    row-major order (so that a positive coordinate in ``so(2)`` rotates counterclockwise)."""
    n = dimension_from_algebra(omega.shape[-1])
    rows, cols = torch.triu_indices(n, n, offset=1)
    skew = omega.new_zeros(omega.shape[:-1] + (n, n))
    skew[..., cols, rows] = omega
    return skew - skew.transpose(-1, -2)


class SO(LieGroupElement):
    """Rotation intervention ``x := R · f(Pa)`` with ``R ∈ SO(n)`` (``Rᵀ R = I``, ``det R = 1``).

    Parameterize it by :meth:`exp` of ``n (n - 1) / 2`` algebra coordinates (or
    :meth:`from_skew` of a skew-symmetric matrix). :meth:`log` returns the principal
    logarithm as coordinates (valid for rotation angles below π).

    :param matrix: a rotation matrix of shape ``(..., n, n)``.

    >>> g = SO.exp(torch.tensor([torch.pi / 2]))
    >>> g(torch.tensor([1.0, 0.0])).round(decimals=6) + 0.0
    tensor([0., 1.])
    >>> SO.exp(g.log()).matrix.allclose(g.matrix)
    True
    """

    event_dim = 1

    def __init__(self, matrix, *, check: bool = True):
        self.matrix = as_tensor(matrix, "SO(n) matrix")
        if self.matrix.dim() < 2 or self.matrix.shape[-1] != self.matrix.shape[-2]:
            raise ValueError(f"SO(n) needs square matrices, got shape {tuple(self.matrix.shape)}")
        check_finite(self.matrix, "SO(n) matrix")
        if check:
            m = self.matrix.detach()
            eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
            tol = 1e3 * torch.finfo(m.dtype).eps * m.shape[-1]
            orthogonal = torch.allclose(m.transpose(-1, -2) @ m, eye.expand_as(m), atol=tol)
            if not orthogonal or not bool((torch.linalg.det(m) > 0).all()):
                raise ValueError("SO(n) matrix must be orthogonal with determinant +1")

    @property
    def n(self) -> int:
        return self.matrix.shape[-1]

    def act(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1:] != (self.n,):
            raise ValueError(f"SO({self.n}) acts on vectors of size {self.n}, got {tuple(x.shape)}")
        matrix = self.matrix
        if matrix.dtype != x.dtype and x.is_floating_point():
            matrix = matrix.to(torch.promote_types(matrix.dtype, x.dtype))
            x = x.to(matrix.dtype)
        return (matrix @ x.unsqueeze(-1)).squeeze(-1)

    def _compose(self, other: SO) -> SO:
        return SO(self.matrix @ other.matrix, check=False)

    def inverse(self) -> SO:
        return SO(self.matrix.transpose(-1, -2), check=False)

    def log(self) -> torch.Tensor:
        # R is normal, so it diagonalizes as V diag(e^{iθ}) V⁻¹ and log R = V diag(iθ) V⁻¹.
        eigenvalues, vectors = torch.linalg.eig(self.matrix)
        log_diag = torch.diag_embed(torch.log(eigenvalues))
        skew = (vectors @ log_diag @ torch.linalg.inv(vectors)).real
        skew = 0.5 * (skew - skew.transpose(-1, -2))
        rows, cols = torch.triu_indices(self.n, self.n, offset=1)
        return skew[..., cols, rows]

    @classmethod
    def exp(cls, algebra) -> SO:
        """Rotation from ``n (n - 1) / 2`` algebra coordinates (last dimension)."""
        algebra = as_tensor(algebra, "so(n) algebra")
        return cls.from_skew(skew_from_coordinates(algebra))

    @classmethod
    def from_skew(cls, skew) -> SO:
        """Rotation ``exp(S)`` of a skew-symmetric matrix ``S`` (its skew part is used)."""
        skew = as_tensor(skew, "so(n) matrix")
        skew = 0.5 * (skew - skew.transpose(-1, -2))
        return cls(torch.linalg.matrix_exp(skew), check=False)

    @classmethod
    def identity(cls, shape=(), dtype=None, n: int | None = None) -> SO:
        """The identity rotation; ``n`` is the vector size (or ``shape[-1]``)."""
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        size = n if n is not None else (shape[-1] if shape else None)
        if size is None:
            raise ValueError("SO.identity needs the vector size n")
        element = cls(torch.eye(size, dtype=dtype or torch.get_default_dtype()), check=False)
        element._is_identity = True
        return element

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[:-1])

    def _fields(self) -> dict:
        return {"matrix": self.matrix}
