"""The fixed-point solvers and adjoints on flat batched states (internals)."""

from __future__ import annotations

import pytest
import torch

import pyro_causal_eq as pce
from pyro_causal_eq.internals.solvers import anderson, dense_jacobian, newton, picard
from pyro_causal_eq.internals.solvers.implicit import attach_implicit_gradient


def linear_problem(n=6, radius=0.9, batch=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    A *= radius / torch.linalg.eigvals(A).abs().max()
    y = torch.randn(batch + (n,), generator=g, dtype=torch.float64)
    x = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - A, y.unsqueeze(-1)).squeeze(-1)
    return (lambda z: z @ A.T + y), y, x


@pytest.mark.parametrize("batch", [(), (4,), (2, 3)], ids=str)
@pytest.mark.parametrize("solver", [anderson, picard, newton])
def test_forward_solvers_on_batched_linear_problems(solver, batch):
    f, y, x = linear_problem(batch=batch, radius=0.8)
    result = solver(f, torch.zeros_like(y), tol=1e-13, max_iter=5000)
    assert result.z.shape == y.shape and result.residual.shape == batch
    assert bool(result.converged.all())
    torch.testing.assert_close(result.z, x, rtol=1e-11, atol=1e-11)


def test_newton_is_exact_in_one_step_for_affine_maps():
    f, y, x = linear_problem(radius=0.99)
    result = newton(f, torch.zeros_like(y), tol=1e-13)
    assert result.iterations == 1
    torch.testing.assert_close(result.z, x, rtol=1e-12, atol=1e-12)
    assert "lu" in result.state and result.state["jacobian"].shape == (6, 6)


def test_anderson_needs_fewer_evaluations_than_picard():
    f, y, x = linear_problem(n=30, radius=0.95)
    fast = anderson(f, torch.zeros_like(y), tol=1e-12, max_iter=5000, history=8)
    slow = picard(f, torch.zeros_like(y), tol=1e-12, max_iter=5000)
    assert fast.converged.all() and slow.converged.all()
    assert fast.iterations < slow.iterations / 3


@pytest.mark.parametrize("history, beta", [(1, 1.0), (3, 0.5), (20, 1.0), (5, 1.5)])
def test_anderson_options(history, beta):
    f, y, x = linear_problem(radius=0.6)
    result = anderson(f, torch.zeros_like(y), tol=1e-13, max_iter=2000, history=history, beta=beta)
    torch.testing.assert_close(result.z, x, rtol=1e-11, atol=1e-11)


def test_anderson_restarts_on_a_degenerate_history():
    # a constant map: every residual after the first step is zero or collinear
    result = anderson(lambda z: torch.ones_like(z) * 3.0, torch.zeros(1, 4, dtype=torch.float64))
    assert bool(result.converged.all())
    torch.testing.assert_close(result.z, torch.full((1, 4), 3.0, dtype=torch.float64))


def test_newton_safeguard_converges_where_plain_newton_cycles():
    u = torch.tensor([1.5410, -0.2934, -2.1788], dtype=torch.float64)
    v = torch.tensor([0.5684, -1.0845, -1.3986], dtype=torch.float64)
    c = torch.tensor([0.4033, 0.8380, -0.7193], dtype=torch.float64)

    def f(z):
        p, q = z[..., :1], z[..., 1:]
        p_new = 0.5 * torch.tanh((v * q).sum(-1, keepdim=True)) + 0.2
        return torch.cat([p_new, torch.tanh(0.3 * q.flip(-1) + u * p + c)], -1)

    result = newton(f, torch.zeros(4, dtype=torch.float64), tol=1e-13)
    reference = anderson(f, torch.zeros(4, dtype=torch.float64), tol=1e-14)
    assert bool(result.converged.all())
    torch.testing.assert_close(result.z, reference.z, rtol=1e-12, atol=1e-12)


def test_picard_stops_on_divergence_and_anderson_finds_the_repelling_point():
    f = lambda z: 3.0 * z + 1.0  # noqa: E731
    result = picard(f, torch.zeros(2, dtype=torch.float64), max_iter=5000)
    assert not bool(result.converged.all()) and result.iterations < 5000
    # Anderson (like Newton) can converge to a repelling fixed point: the handlers' stability
    # checks are what turn it into an EquilibriumError
    result = anderson(f, torch.zeros(2, dtype=torch.float64), tol=1e-12)
    torch.testing.assert_close(result.z, torch.full((2,), -0.5, dtype=torch.float64))


def test_dense_jacobian_batched_and_with_python_control_flow():
    W = torch.randn(3, 3, dtype=torch.float64)
    z = torch.randn(2, 3, dtype=torch.float64)
    jac = dense_jacobian(lambda x: torch.tanh(x @ W.T), z)
    for b in range(2):
        expected = torch.autograd.functional.jacobian(lambda x: torch.tanh(W @ x), z[b])
        torch.testing.assert_close(jac[b], expected)

    def branching(x):  # data-dependent control flow: vmap refuses it, the loop fallback works
        return x * 2.0 if float(x.detach().sum()) > 0 else x * 3.0

    z1 = torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(
        dense_jacobian(branching, z1), 2.0 * torch.eye(3, dtype=torch.float64)
    )


def test_attach_implicit_gradient_detaches_without_parameters():
    z = attach_implicit_gradient(lambda z: 0.5 * z + 1.0, torch.tensor([2.0]), lambda vjp, g: g)
    assert not z.requires_grad
    theta = torch.tensor(1.0, requires_grad=True)
    with torch.no_grad():
        z = attach_implicit_gradient(lambda z: 0.5 * z + theta, torch.tensor([2.0]), lambda v, g: g)
    assert not z.requires_grad


@pytest.mark.parametrize("solver", [pce.Newton, pce.Anderson, pce.Picard])
def test_adjoint_solves_transposed_system(solver):
    n = 5
    A = torch.randn(n, n) * 0.15
    g = torch.randn(n)
    u_expected = torch.linalg.solve(torch.eye(n) - A.T, g)
    handler = solver()
    f = lambda z: z @ A.T + 1.0  # noqa: E731
    result = handler.forward(f, torch.zeros(n), 1e-13, 100)

    def vjp(v):
        return v @ A  # Jᵀ v for J = A

    u = handler.adjoint(vjp, g, result, 1e-13, 1000)
    torch.testing.assert_close(u, u_expected, rtol=1e-11, atol=1e-12)


def test_newton_adjoint_refines_a_stale_factorization():
    # the LU stored by Newton is taken one step before the end on a nonlinear map;
    # refinement against exact products makes the adjoint exact anyway
    W = torch.randn(4, 4) * 0.3
    theta = torch.randn(4, requires_grad=True)
    with pce.Newton(tol=1e-13):
        x = pce.equilibrate(
            "n", {"x": lambda x: torch.tanh(x @ W.T + theta)}, init={"x": torch.zeros(4)}
        )["x"]
    x.sum().backward()
    xd = x.detach()
    D = torch.diag(1 - torch.tanh(xd @ W.T + theta.detach()) ** 2)
    J = D @ W
    expected = torch.linalg.solve(torch.eye(4) - J, D).sum(0)
    torch.testing.assert_close(theta.grad, expected, rtol=1e-11, atol=1e-12)


def test_default_solver_threshold():
    from pyro_causal_eq.handlers.solver import NEWTON_MAX_SIZE, default_solver

    assert isinstance(default_solver(NEWTON_MAX_SIZE), pce.Newton)
    assert isinstance(default_solver(NEWTON_MAX_SIZE + 1), pce.Anderson)


def test_spectral_estimates_match_eigenvalues():
    from pyro_causal_eq.internals import stability

    g = torch.Generator().manual_seed(3)
    A = torch.rand(40, 40, generator=g, dtype=torch.float64)
    A *= 0.9 / torch.linalg.eigvals(A).abs().max()
    exact = float(stability.spectral_radius(A))
    power = float(stability.power_radius(lambda v: v @ A.T, torch.zeros(40, dtype=torch.float64)))
    assert abs(power - exact) < 1e-6
    with torch.no_grad():
        result = anderson(lambda z: z @ A.T + 1.0, torch.zeros(40, dtype=torch.float64), tol=1e-13)
    assert abs(float(stability.ritz_radius(*result.state["history"])) - exact) < 1e-4
    assert float(stability.norm_bound(A)) >= exact


def test_diverging_iterates_are_not_mistaken_for_convergence():
    # ||z||² overflows long before z does: the residual must not read as zero
    result = picard(lambda z: 1.5 * z + 1.0, torch.zeros(4, dtype=torch.float64), max_iter=5000)
    assert not bool(result.converged.all())
    with torch.no_grad():
        result = anderson(lambda z: torch.exp(z) + 1.0, torch.zeros(1, 4, dtype=torch.float64))
    assert not bool(result.converged.all())


def test_singularity_check_in_float32():
    with pytest.raises(pce.EquilibriumError, match="singular"):
        pce.equilibrate("s", {"x": lambda x: x}, init={"x": torch.zeros(2, dtype=torch.float32)})
