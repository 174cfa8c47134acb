"""Sparse economies: scipy.sparse / torch sparse A give the dense results (equilibrium,
implicit gradients of the Pyro model, sparse-LU gradients, exact and gradient trade-offs)."""

from __future__ import annotations

import numpy as np
import pymrio
import pytest
import scipy.sparse as sp
import torch

import pyro_causal_eq as pce
from pyro_causal_eq.economics import IOModel, IOTableError, tradeoff
from pyro_causal_eq.economics.sparse import sparse_output, spectral_radius_bound


def _pair(n=40, density=0.15, seed=0):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=density, random_state=seed, format="csr")
    A = sp.csr_matrix(A.multiply(0.7 / np.maximum(A.sum(axis=0), 1e-9)))
    y = rng.random(n) + 0.1
    R = np.vstack([rng.random(n), rng.random(n) + 0.5])
    kw = dict(indicators=["GHG", "JOBS"])
    return IOModel(A, y, R, **kw), IOModel(A.toarray(), y, R, **kw)


@pytest.mark.parametrize("kind", ["scipy", "torch_coo", "torch_csr"])
def test_sparse_inputs_give_the_dense_equilibrium(kind):
    sparse, dense = _pair()
    A = sparse.A
    if kind != "scipy":
        A = torch.tensor(A.toarray()).to_sparse() if kind == "torch_coo" else (
            torch.tensor(A.toarray()).to_sparse_csr()
        )  # fmt: skip
    io = IOModel(A, dense.y, dense.R, indicators=["GHG", "JOBS"])
    assert io.sparse and sp.issparse(io.A)
    alpha = np.linspace(0.5, 1.5, io.n)
    np.testing.assert_allclose(io.equilibrium(), dense.equilibrium(), rtol=1e-12)
    np.testing.assert_allclose(io.equilibrium(alpha), dense.equilibrium(alpha), rtol=1e-12)
    np.testing.assert_allclose(
        io.equilibrium(alpha, "demand"), dense.equilibrium(alpha, "demand"), rtol=1e-12
    )


@pytest.mark.parametrize("target", ["assignment", "demand"])
def test_sparse_lu_gradient_matches_the_dense_autograd_gradient(target):
    sparse, dense = _pair()
    w = torch.linspace(0.1, 1.0, sparse.n)
    a1 = torch.linspace(0.6, 1.2, sparse.n).requires_grad_(True)
    (sparse_output(sparse, a1, target) @ w).backward()
    a2 = a1.detach().clone().requires_grad_(True)
    A, y = torch.tensor(dense.A), torch.tensor(dense.y)
    M = torch.eye(dense.n) - (a2[:, None] * A if target == "assignment" else A)
    (torch.linalg.solve(M, a2 * y) @ w).backward()
    torch.testing.assert_close(a1.grad, a2.grad, rtol=1e-10, atol=1e-12)


def test_pyro_model_with_sparse_A_matches_dense_with_implicit_gradients():
    sparse, dense = _pair()
    grads = []
    for io in (sparse, dense):
        alpha = torch.full((io.n,), 0.8, requires_grad=True)
        with pce.Anderson(tol=1e-12), pce.do(actions={"x": pce.Scale(alpha)}):
            x = io.model(dtype=torch.float64)()
        x.sum().backward()
        np.testing.assert_allclose(x.detach().numpy(), dense.equilibrium(np.full(io.n, 0.8)),
                                   rtol=1e-9)  # fmt: skip
        grads.append(alpha.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("method", ["exact", "gradient"])
def test_sparse_tradeoff_matches_dense(method):
    sparse, dense = _pair(n=30)
    lams = [0.05, 0.5, 5.0]
    a = tradeoff(sparse, lams, method=method, certify=False, bounds=(0.0, 1.2)).to_xarray()
    b = tradeoff(dense, lams, method=method, certify=False, bounds=(0.0, 1.2)).to_xarray()
    np.testing.assert_allclose(a.objective.values, b.objective.values, rtol=1e-7)
    np.testing.assert_allclose(a.ghg.values, b.ghg.values, rtol=1e-6)
    if method == "exact":
        np.testing.assert_allclose(a.optimum.values, b.optimum.values, rtol=1e-9)


def test_sparse_pymrio_loader_and_spectral_radius():
    dense = IOModel.from_pymrio(pymrio.load_test())
    sparse = IOModel.from_pymrio(pymrio.load_test(), sparse=True)
    assert sparse.sparse and sparse.validate_output() < 1e-12
    np.testing.assert_allclose(sparse.A.toarray(), dense.A)
    rho = np.abs(np.linalg.eigvals(dense.A)).max()
    assert rho <= spectral_radius_bound(sparse.A) < 1
    skewed = np.array([[0.1, 1.2], [0.2, 0.1]])  # norm bounds 1.3: power iteration
    assert spectral_radius_bound(sp.csr_matrix(skewed)) == pytest.approx(0.1 + 0.24**0.5)
    with pytest.raises(IOTableError, match="spectral radius"):
        IOModel(sp.csr_matrix([[0.5, 0.9], [0.9, 0.5]]), [1.0, 1.0], [[1.0, 1.0]])
    with pytest.raises(IOTableError, match="NaN"):
        IOModel(sp.csr_matrix([[np.nan, 0.0], [0.0, 0.1]]), [1.0, 1.0], [[1.0, 1.0]])
