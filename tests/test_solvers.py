"""The fixed-point solvers and adjoints on flat batched states (internals)."""

from __future__ import annotations

import numpy
import pytest
import scipy.optimize
import torch
from pyro import poutine

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


def _four_node_map():
    u = torch.tensor([1.5410, -0.2934, -2.1788], dtype=torch.float64)
    v = torch.tensor([0.5684, -1.0845, -1.3986], dtype=torch.float64)
    c = torch.tensor([0.4033, 0.8380, -0.7193], dtype=torch.float64)

    def f(z):
        p, q = z[..., :1], z[..., 1:]
        p_new = 0.5 * torch.tanh((v * q).sum(-1, keepdim=True)) + 0.2
        return torch.cat([p_new, torch.tanh(0.3 * q.flip(-1) + u * p + c)], -1)

    return f


def test_newton_safeguard_converges_where_plain_newton_cycles():
    # Plain Newton cycles on this system from 0. Whatever the rounding of the machine, the
    # globalized Newton either converges to the fixed point or stops early at a stationary
    # point of the merit (flagged, never a wrong answer); the default hands over and solves it.
    f = _four_node_map()
    z0 = torch.zeros(4, dtype=torch.float64)
    # scipy.optimize.root (hybr, lm) stops at the same merit minimum from 0: the reference is
    # Anderson's fixed point, confirmed as a root and polished by scipy from there
    start = anderson(f, z0, tol=1e-14).z.numpy()
    polished = scipy.optimize.root(lambda z: f(torch.from_numpy(z)).numpy() - z, start, tol=1e-14)
    assert polished.success and abs(polished.fun).max() < 1e-14
    reference = torch.from_numpy(polished.x)
    result = newton(f, z0, tol=1e-13)
    if bool(result.converged.all()):
        torch.testing.assert_close(result.z, reference, rtol=1e-10, atol=1e-10)
    else:
        assert bool(result.state["stalled"].all()) and result.iterations < 50
    x = pce.equilibrate("four", {"z": lambda z: f(z)}, init={"z": z0}, tol=1e-13)["z"]
    torch.testing.assert_close(x, reference, rtol=1e-10, atol=1e-10)


def test_newton_stops_at_a_stationary_point_of_the_merit_and_the_default_hands_over():
    # r(x) = x³ - 2x + 2 has a local minimum of r² at x = √(2/3) with r > 0 (plain Newton
    # cycles 0 -> 1 -> 0); the root x ≈ -1.769 is repelling for x = F(x) = x - r(x), so
    # accept unstable equilibria: the hand-over to Anderson (a secant method in 1-D) finds it.
    def f(x):
        return x - (x**3 - 2 * x + 2)

    x0 = torch.zeros(1, dtype=torch.float64)
    result = newton(f, x0, tol=1e-13)
    assert not bool(result.converged.all()) and bool(result.state["stalled"].all())
    assert abs(float(result.z) - (2 / 3) ** 0.5) < 1e-3
    with poutine.trace() as tracer:
        x = pce.equilibrate("cubic", {"x": f}, init={"x": x0}, require_stable=False)["x"]
    info = tracer.trace.nodes["x"]["infer"]["equilibrium"]
    assert info["solver"] == "anderson" and info["configured"] == "auto"
    (handover,) = info["handovers"]
    assert handover["from"] == "newton" and handover["to"] == "anderson"
    assert "merit" in handover["reason"] and handover["iteration"] >= 1
    root = float(torch.from_numpy(numpy.roots([1.0, 0.0, -2.0, 2.0]).real[:1]))
    assert abs(float(x) - root) < 1e-10
    with pytest.raises(pce.EquilibriumError, match="newton did not converge"), pce.Newton():
        pce.equilibrate("cubic", {"x": f}, init={"x": x0}, require_stable=False)


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
    from pyro_causal_eq.internals.auto_solver import (
        NEWTON_MAX_SIZE,
        TRACED_NEWTON_MAX_SIZE,
        AutoSolver,
        default_solver,
    )

    def first(f, n):
        return default_solver(n).forward(f, torch.zeros(n), 1e-12, 0).state["solver"]

    def traceable(z):
        return 0.5 * z + 1

    def black_box(z):  # flip has no Jacobian rule
        return 0.5 * z.flip(-1) + 1

    assert isinstance(default_solver(NEWTON_MAX_SIZE), AutoSolver)
    assert first(black_box, NEWTON_MAX_SIZE) == "newton"
    assert first(black_box, NEWTON_MAX_SIZE + 1) == "anderson"
    assert first(traceable, TRACED_NEWTON_MAX_SIZE) == "newton"
    assert first(traceable, TRACED_NEWTON_MAX_SIZE + 1) == "anderson"


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


def test_default_retries_with_picard_when_newton_finds_a_repelling_point():
    # x = x²: Newton from 0.9 converges to the repelling fixed point 1; Picard finds 0
    x0 = torch.full((1,), 0.9, dtype=torch.float64)
    with pytest.raises(pce.EquilibriumError, match="not attracting"), pce.Newton():
        pce.equilibrate("sq", {"x": lambda x: x**2}, init={"x": x0})
    with poutine.trace() as tracer:
        x = pce.equilibrate("sq", {"x": lambda x: x**2}, init={"x": x0}, atol=1e-300)["x"]
    info = tracer.trace.nodes["x"]["infer"]["equilibrium"]
    assert info["solver"] == "picard" and "not attracting" in info["handovers"][0]["reason"]
    assert abs(float(x)) < 1e-100
