"""Checks of input-output tables: shapes, finiteness, output signs, spectral radius."""

from __future__ import annotations

import warnings

import numpy as np


class IOTableError(ValueError):
    """A malformed input-output table (the message names the problem).

    A ``ValueError`` raised by :class:`IOModel` and the loaders (shapes, NaN/inf, labels,
    negative output, spectral radius of ``A`` of at least 1).

    >>> from pyro_causal_eq.economics import IOModel
    >>> try:
    ...     IOModel([[0.1, 0.2], [0.3, 0.1]], [1.0, 2.0], [[1.0, 0.5]], sectors=["a", "a"])
    ... except IOTableError as error:
    ...     print(f"{type(error).__name__}: {error}")
    IOTableError: sector labels are not unique
    >>> issubclass(IOTableError, ValueError)
    True
    """


def as_matrix(value, name: str) -> np.ndarray:
    """A float64 2-d array or a clear :class:`IOTableError`.

    :param value: array-like.
    :param name: what it is, for the message.

    >>> as_matrix([[1, 2]], "A").dtype
    dtype('float64')
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise IOTableError(f"{name} is not numeric: {error}") from None
    if array.ndim != 2:
        raise IOTableError(f"{name} must be a 2-d matrix, got shape {array.shape}")
    return array


def as_vector(value, name: str, size: int | None = None) -> np.ndarray:
    """A float64 1-d array (a column ``(n, 1)`` is flattened) or a clear error.

    :param value: array-like.
    :param name: what it is, for the message.
    :param size: required length (one per sector).

    >>> as_vector([[1.0], [2.0]], "y", 2)
    array([1., 2.])
    """
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise IOTableError(f"{name} is not numeric: {error}") from None
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise IOTableError(f"{name} must be a vector, got shape {array.shape}")
    if size is not None and array.shape[0] != size:
        raise IOTableError(f"{name} has {array.shape[0]} entries, expected {size} (one per sector)")
    return array


def check_finite(array: np.ndarray, name: str, labels=None) -> None:
    """Raise when ``array`` holds NaN or infinite entries (naming the first ones).

    :param array: the data.
    :param name: what it is, for the message.
    :param labels: sector labels of a vector's entries.
    """
    bad = ~np.isfinite(array)
    if bad.any():
        where = np.argwhere(bad)[:5].tolist()
        if labels is not None and array.ndim == 1:
            where = [labels[i[0]] for i in where]
        raise IOTableError(f"{name} holds {int(bad.sum())} NaN/inf entries (first at {where})")


def spectral_radius(A: np.ndarray) -> float:
    """Largest modulus of the eigenvalues of ``A``.

    :param A: a square matrix.

    >>> spectral_radius(np.array([[0.0, 0.5], [0.5, 0.0]]))
    0.5
    """
    return float(np.abs(np.linalg.eigvals(A)).max()) if A.size else 0.0


def check_output(q: np.ndarray, sectors, name: str = "output q", tol: float = 1e-4) -> None:
    """Negative output entries: an error when one exceeds ``tol`` of the total absolute output,
    a warning otherwise (published tables carry tiny negative adjustment sectors, e.g. USEEIO's
    used goods and noncomparable imports).

    :param q: gross output.
    :param sectors: sector labels.
    :param name: what it is, for the message.
    :param tol: share of the total absolute output below which a negative entry only warns.
    """
    negative = np.flatnonzero(q < 0)
    if negative.size == 0:
        return
    total = float(np.abs(q).sum())
    big = [i for i in negative if -q[i] > tol * total]
    if big:
        shown = ", ".join(f"{sectors[i]} ({q[i]:.4g})" for i in big[:5])
        raise IOTableError(
            f"negative {name} in {len(big)} sector(s): {shown}; an input-output table needs "
            "nonnegative gross output"
        )
    shown = ", ".join(str(sectors[i]) for i in negative[:5])
    warnings.warn(
        f"{name} has {negative.size} tiny negative entries (< {tol:g} of the total): {shown}",
        stacklevel=3,
    )


def check_table(A, y, R, q=None, sectors=None, indicators=None) -> tuple:
    """Validate an input-output table; returns float64 arrays ``(A, y, R, q)``.

    :param A: technical coefficients (dense, or scipy.sparse / torch sparse: kept as a
        float64 CSR matrix).
    :param y: final demand.
    :param R: indicator intensities.
    :param q: observed output (optional).
    :param sectors: sector labels (optional).
    :param indicators: indicator names (optional).
    :raises IOTableError: non-square or mismatched shapes, NaN/inf, negative output, or a
        spectral radius of ``A`` of at least 1 (no nonnegative Leontief inverse).
    """
    from .sparse import is_sparse, spectral_radius_bound, to_csr

    sparse = is_sparse(A)
    A = to_csr(A) if sparse else as_matrix(A, "technical coefficients A")
    if A.shape[0] != A.shape[1]:
        raise IOTableError(f"technical coefficients A must be square, got shape {A.shape}")
    n = A.shape[0]
    if n == 0:
        raise IOTableError("the table has no sectors")
    sectors = list(sectors) if sectors is not None else [str(i) for i in range(n)]
    if len(sectors) != n:
        raise IOTableError(f"{len(sectors)} sector labels for {n} sectors")
    if len(set(sectors)) != n:
        raise IOTableError("sector labels are not unique")
    check_finite(A.data if sparse else A, "technical coefficients A")
    y = as_vector(y, "final demand y", n)
    check_finite(y, "final demand y", sectors)
    R = as_matrix(R, "indicator intensities R")
    if R.shape[1] != n:
        raise IOTableError(f"indicator intensities R have {R.shape[1]} columns for {n} sectors")
    if indicators is not None and len(indicators) != R.shape[0]:
        raise IOTableError(f"{len(indicators)} indicator names for {R.shape[0]} rows of R")
    check_finite(R, "indicator intensities R")
    if sparse:  # ρ(|A|) >= ρ(A), without a dense matrix
        radius = spectral_radius_bound(A)
    else:
        absolute = np.abs(A)
        cheap = min(absolute.sum(axis=0).max(), absolute.sum(axis=1).max())  # bounds ρ(A)
        radius = cheap if cheap < 1.0 else spectral_radius(A)
    if not radius < 1.0:
        raise IOTableError(
            f"spectral radius of A is {radius:.4g} >= 1: x = A x + y has no nonnegative "
            "solution (is A transposed, or in the wrong units?)"
        )
    if q is not None:
        q = as_vector(q, "output q", n)
        check_finite(q, "output q", sectors)
        check_output(q, sectors)
    return A, y, R, q
