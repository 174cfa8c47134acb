"""Implicit gradients: closed forms, ``torch.autograd.gradcheck``, unrolled agreement."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from solver_cases import BATCH_SHAPES, SOLVERS, contraction
from torch.autograd import gradcheck

import pyro_causal_eq as pce


def solve_linear(A, y):
    return pce.equilibrate(
        "lin", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(A.shape[-1])}
    )["x"]


@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("solver", SOLVERS)
def test_linear_gradients_match_closed_form(solver, batch_shape):
    n = 4
    A0, y0 = contraction(n), torch.randn(batch_shape + (n,))
    c = torch.randn(batch_shape + (n,))
    A, y = A0.clone().requires_grad_(), y0.clone().requires_grad_()
    with SOLVERS[solver]():
        x = solve_linear(A, y)
    (c * x).sum().backward()
    A_ref, y_ref = A0.clone().requires_grad_(), y0.clone().requires_grad_()
    eye = torch.eye(n)
    x_ref = torch.linalg.solve(eye - A_ref, y_ref.unsqueeze(-1)).squeeze(-1)
    (c * x_ref).sum().backward()
    torch.testing.assert_close(A.grad, A_ref.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(y.grad, y_ref.grad, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("batch_shape", [(), (2,)], ids=str)
@pytest.mark.parametrize("solver", SOLVERS)
def test_tanh_system_gradcheck(solver, batch_shape):
    n = 3
    W = contraction(n, 0.8, seed=1).requires_grad_()
    b = torch.randn(batch_shape + (n,)).requires_grad_()

    def fn(W, b):
        with SOLVERS[solver]():
            return pce.equilibrate(
                "tanh", {"x": lambda x: torch.tanh(x @ W.T + b)}, init={"x": torch.zeros(n)}
            )["x"]

    assert gradcheck(fn, (W, b), eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_multi_node_gradcheck(solver):
    def fn(u, v, c):
        mechanisms = {
            "p": lambda q: 0.5 * torch.tanh(v @ q) + 0.2,
            "q": lambda p, q: torch.tanh(0.3 * q.flip(-1) + u * p + c),
            "r": lambda p, q: p * q.sum(),
        }
        init = {"p": torch.tensor(0.0), "q": torch.zeros(3), "r": torch.tensor(0.0)}
        with SOLVERS[solver]():
            out = pce.equilibrate("mixed", mechanisms, init=init)
        return out["p"], out["q"], out["r"]

    args = tuple(torch.randn(3).requires_grad_() for _ in range(3))
    assert gradcheck(fn, args, eps=1e-6, atol=1e-7, rtol=1e-6)


def leontief_model(A, y):
    def model():
        return pce.equilibrate(
            "io", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(A.shape[-1])}
        )

    return model


@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("solver", SOLVERS)
def test_scale_intervention_gradient_closed_form(solver, batch_shape):
    """x(α) = (I - diag(α) A)⁻¹ diag(α) y and its gradient in α (the paper's intervention)."""
    n = 4
    A, y = contraction(n, 0.5).abs(), torch.rand(n) + 0.5
    alpha0 = 0.5 + torch.rand(batch_shape + (n,))
    c = torch.rand(n)
    alpha = alpha0.clone().requires_grad_()
    with SOLVERS[solver](), pce.do(actions={"x": pce.Scale(alpha)}):
        x = leontief_model(A, y)()["x"]
    (x @ c).sum().backward()
    alpha_ref = alpha0.clone().requires_grad_()
    M = torch.eye(n) - alpha_ref.unsqueeze(-1) * A
    x_ref = torch.linalg.solve(M, (alpha_ref * y).unsqueeze(-1)).squeeze(-1)
    (x_ref @ c).sum().backward()
    torch.testing.assert_close(x, x_ref.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(alpha.grad, alpha_ref.grad, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("solver", SOLVERS)
def test_scale_and_shift_gradcheck_through_do(solver):
    A, y = contraction(3, 0.5, seed=4), torch.randn(3)

    def fn(log_alpha, delta):
        actions = {"x": pce.Scale(log=log_alpha), "z": pce.Shift(delta)}
        mechanisms = {"x": lambda x, z: torch.tanh(x @ A.T + y) + 0.1 * z, "z": lambda x: x.sum()}
        with SOLVERS[solver](), pce.do(actions=actions):
            out = pce.equilibrate(
                "s", mechanisms, init={"x": torch.zeros(3), "z": torch.tensor(0.0)}
            )
        return out["x"], out["z"]

    args = (0.2 * torch.randn(3), torch.tensor(0.3))
    assert gradcheck(fn, tuple(a.requires_grad_() for a in args), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("solver", ["newton", "anderson"])
def test_affine_and_rotation_gradcheck_through_do(solver):
    W = contraction(3, 0.5, seed=5)
    b = torch.randn(3)

    def fn(affine_algebra, so_algebra):
        actions = {"x": pce.Affine.exp(affine_algebra), "v": pce.SO.exp(so_algebra)}
        mechanisms = {
            "x": lambda v: 0.5 * torch.tanh(v) + b,
            "v": lambda x: x @ W.T,
        }
        with SOLVERS[solver](), pce.do(actions=actions):
            out = pce.equilibrate("r", mechanisms, init={"x": torch.zeros(3), "v": torch.zeros(3)})
        return out["x"], out["v"]

    args = (0.1 * torch.randn(3, 2), 0.5 * torch.randn(3))
    assert gradcheck(fn, tuple(a.requires_grad_() for a in args), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("solver", [pce.Anderson, pce.Picard])
def test_unrolled_backward_agrees_with_implicit(solver):
    W, b0 = contraction(4, 0.7, seed=6), torch.randn(4)

    def grads(backward):
        b = b0.clone().requires_grad_()
        alpha = torch.full((4,), 0.9, requires_grad=True)
        with solver(backward=backward, tol=1e-13), pce.do(actions={"x": pce.Scale(alpha)}):
            x = pce.equilibrate(
                "u", {"x": lambda x: torch.tanh(x @ W.T + b)}, init={"x": torch.zeros(4)}
            )["x"]
        (x**2).sum().backward()
        return x.detach(), b.grad, alpha.grad

    implicit, unrolled = grads("implicit"), grads("unrolled")
    for a, u in zip(implicit, unrolled, strict=True):
        torch.testing.assert_close(a, u, rtol=1e-9, atol=1e-11)


def test_unrolled_backward_needs_an_iterative_solver():
    with pytest.raises(ValueError, match="iterative solver"), pce.Newton(backward="unrolled"):
        pce.equilibrate("u", {"x": lambda x: 0.5 * x + 1}, init={"x": torch.zeros(2)})


@pytest.mark.parametrize("solver", SOLVERS)
def test_gradient_through_plate_batched_model(solver):
    n = 3
    A = contraction(n, 0.6, seed=7)
    scale = torch.tensor(2.0, requires_grad=True)

    def model():
        with pyro.plate("units", 5):
            y = pyro.sample("y", dist.Normal(torch.zeros(n), scale).to_event(1))
            return y, pce.equilibrate(
                "io", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(n)}
            )["x"]

    with SOLVERS[solver]():
        y, x = model()
    x.sum().backward()
    # x = (I - A)⁻¹ y with y = scale · ε (reparameterized): dΣx/dscale = Σ (I - A)⁻¹ y / scale
    expected = torch.linalg.solve(torch.eye(n) - A, (y.detach() / scale.detach()).T).sum()
    assert abs(float(scale.grad) - float(expected)) < 1e-9


@pytest.mark.parametrize("solver", SOLVERS)
def test_gradient_with_respect_to_param_site(solver):
    def model():
        w = pyro.param("w", torch.tensor([0.3, -0.2]))
        return pce.equilibrate(
            "p", {"x": lambda x: torch.tanh(w * x.flip(-1) + 1.0)}, init={"x": torch.zeros(2)}
        )["x"]

    with SOLVERS[solver]():
        x = model()
    x.sum().backward()
    w = pyro.param("w")
    w_fd = w.detach().clone()
    grad_fd = torch.zeros(2)
    for i in range(2):
        for sign in (1, -1):
            pyro.get_param_store()["w"] = w_fd + sign * 1e-6 * torch.eye(2)[i]
            with torch.no_grad(), SOLVERS[solver]():
                grad_fd[i] += sign * model().sum() / 2e-6
    torch.testing.assert_close(w.grad, grad_fd, rtol=1e-6, atol=1e-8)


def test_backward_tolerance_option_is_honoured():
    theta = torch.tensor(0.5, requires_grad=True)
    with pce.Anderson(backward_tol=1e-14):
        x = pce.equilibrate("b", {"x": lambda x: 0.9 * x + theta}, init={"x": torch.zeros(70)})["x"]
    x.sum().backward()
    assert abs(float(theta.grad) - 700.0) < 1e-9


@pytest.mark.parametrize("n", [3, 40])
def test_newton_gradient_after_a_warm_start_at_the_solution(n):
    # Newton converges before any step, so no factorization is available for the adjoint
    W = contraction(n, 0.7, seed=8)
    b0 = torch.randn(n)
    handler = pce.Newton(warm_start=True)

    def solve(b):
        with handler:
            return pce.equilibrate(
                "w", {"x": lambda x: torch.tanh(x @ W.T + b)}, init={"x": torch.zeros(n)}
            )["x"]

    solve(b0)
    b = b0.clone().requires_grad_()
    x = solve(b)
    x.sum().backward()
    D = torch.diag(1 - torch.tanh(x.detach() @ W.T + b0) ** 2)
    expected = torch.linalg.solve(torch.eye(n) - D @ W, D).sum(0)
    torch.testing.assert_close(b.grad, expected, rtol=1e-10, atol=1e-11)
