"""The mixed-precision LU (float32 factors refined to float64 accuracy, float64 fallback) and
the LAPACK norm bound, against float64 references."""

import numpy as np
import pytest
import torch

from pyro_causal_eq.internals import stability
from pyro_causal_eq.internals.solvers.lu import LU, MIXED_MIN_SIZE, MixedLU, factorize
from pyro_causal_eq.internals.solvers.norm_bound import norm_bound


def _matrix(n: int, condition: float, seed: int = 0) -> torch.Tensor:
    """``U diag(s) Vᵀ`` with singular values log-spaced from 1 to ``1 / condition``."""
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    s = torch.logspace(0, -np.log10(condition), n, dtype=torch.float64)
    return (u * s) @ v.T


def _reference(m: torch.Tensor, b: torch.Tensor, transpose: bool) -> np.ndarray:
    """The solution refined with long-double residuals (about 19 digits on x86)."""
    a = (m.T if transpose else m).numpy()
    x = np.linalg.solve(a, b.numpy()).astype(np.longdouble)
    wide = a.astype(np.longdouble)
    for _ in range(3):
        r = b.numpy().astype(np.longdouble) - wide @ x
        x = x + np.linalg.solve(a, r.astype(np.float64)).astype(np.longdouble)
    return x


def _error(x: torch.Tensor, reference: np.ndarray) -> float:
    return float(np.linalg.norm(x.numpy() - reference) / np.linalg.norm(reference))


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("condition", [1e1, 1e4, 1e9])
def test_mixed_lu_is_as_accurate_as_a_float64_lu(condition, transpose):
    """Refined float32 factors (cond 10, 10⁴) and the float64 fallback (cond 10⁹, beyond
    float32) are within a small factor of a float64 LU's error, itself ~ cond · ε."""
    n = 300
    m = _matrix(n, condition)
    b = torch.randn(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = _reference(m, b, transpose)
    full = _error(LU(m.clone()).solve(b, transpose=transpose), reference)
    mixed_lu = MixedLU(m.clone())
    mixed = _error(mixed_lu.solve(b, transpose=transpose), reference)
    assert mixed <= 10 * full + 1e-15
    assert (mixed_lu._full is not None) is (condition > 1e7)  # float32 cannot resolve 10⁹


def test_mixed_lu_reports_singular_and_non_finite_matrices():
    m = _matrix(50, 10.0)
    m[:, 3] = 0.0  # a zero pivot in any precision
    assert bool(MixedLU(m.clone()).singular) and bool(LU(m.clone()).singular)
    m = _matrix(50, 10.0)
    m[2, 2] = float("nan")
    assert bool(MixedLU(m).singular)
    assert not bool(MixedLU(_matrix(50, 10.0)).singular)


def test_factorize_picks_mixed_precision_for_large_float64_matrices():
    n = MIXED_MIN_SIZE
    assert isinstance(factorize(torch.eye(n, dtype=torch.float64)), MixedLU)
    assert isinstance(factorize(torch.eye(n - 1, dtype=torch.float64)), LU)
    assert isinstance(factorize(torch.eye(n, dtype=torch.float32)), LU)  # already float32
    assert isinstance(factorize(torch.eye(n, dtype=torch.float64).expand(2, n, n)), LU)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_norm_bound_by_lapack_matches_torch(dtype):
    """The LAPACK path (single CPU matrix, no n × n temporary) against the torch formula on a
    batch of one; NaN propagates; ``enough`` stops at a valid bound."""
    j = torch.randn(40, 40, generator=torch.Generator().manual_seed(2), dtype=dtype)
    absolute = j.abs()
    exact = torch.minimum(absolute.sum(-1).amax(), absolute.sum(-2).amax())
    torch.testing.assert_close(norm_bound(j), exact)
    torch.testing.assert_close(norm_bound(j.unsqueeze(0)), exact.unsqueeze(0))  # torch path
    first = float(absolute.sum(-2).amax())  # ||J||₁: computed first
    assert float(norm_bound(j, enough=first + 1.0)) == pytest.approx(first)
    assert stability.norm_bound is norm_bound
    j[5, 7] = float("nan")
    assert torch.isnan(norm_bound(j))
