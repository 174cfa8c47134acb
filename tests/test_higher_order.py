"""Second derivatives through equilibria: Hessian-vector products and Hessians against
finite differences of gradients (float64), for every solver, scalar/vector nodes, batches."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from solver_cases import SOLVERS, contraction

import pyro_causal_eq as pce


def tanh_loss(solver, batch_shape=()):
    n = 3
    W = contraction(n, 0.7, seed=2)

    def loss(b):
        with SOLVERS[solver]():
            x = pce.equilibrate(
                "tanh", {"x": lambda x: torch.tanh(x @ W.T + b)}, init={"x": torch.zeros(n)}
            )["x"]
        return (x**3).sum() + (x.sum(-1) ** 2).sum()

    b = torch.randn(batch_shape + (n,), generator=torch.Generator().manual_seed(4))
    return loss, b


def multi_node_loss(solver):
    u = torch.tensor([0.9, -0.3, -1.1])
    c = torch.tensor([0.4, 0.8, -0.7])

    def loss(theta):
        v, a = theta[:3], theta[3]
        mechanisms = {
            "p": lambda q: 0.5 * torch.tanh(v @ q) + 0.2 * a,
            "q": lambda p, q: torch.tanh(0.3 * q.flip(-1) + u * p * a + c),
        }
        init = {"p": torch.tensor(0.0), "q": torch.zeros(3)}
        with SOLVERS[solver]():
            out = pce.equilibrate("pq", mechanisms, init=init)
        return out["p"] ** 2 * a + (out["q"] * c).sum() ** 2

    return loss, torch.tensor([0.5, -0.6, -0.8, 0.9])


def gradient(loss, x):
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(loss(x), x)
    return g


def fd_hvp(loss, x, v, eps=1e-5):
    return (gradient(loss, x + eps * v) - gradient(loss, x - eps * v)) / (2 * eps)


@pytest.mark.parametrize("batch_shape", [(), (2,)], ids=str)
@pytest.mark.parametrize("solver", SOLVERS)
def test_hessian_vector_product_matches_finite_differences(solver, batch_shape):
    loss, b = tanh_loss(solver, batch_shape)
    v = torch.randn(b.shape, generator=torch.Generator().manual_seed(5))
    x = b.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(x), x, create_graph=True)
    (hvp,) = torch.autograd.grad((g * v).sum(), x)
    torch.testing.assert_close(hvp, fd_hvp(loss, b, v), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("solver", SOLVERS)
def test_full_hessian_of_scalar_and_vector_nodes(solver):
    loss, theta = multi_node_loss(solver)
    hessian = torch.autograd.functional.hessian(loss, theta)
    columns = [fd_hvp(loss, theta, e) for e in torch.eye(4)]
    torch.testing.assert_close(hessian, torch.stack(columns, 1), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(hessian, hessian.T, rtol=1e-8, atol=1e-10)


def test_hessian_of_a_linear_equilibrium_matches_the_closed_form():
    # x(α) = (I - diag(α) A)⁻¹ diag(α) y through a Scale intervention; exact Hessian of cᵀx
    A, y, c = contraction(4, 0.6, seed=7).abs(), torch.rand(4) + 0.5, torch.rand(4)

    def pce_loss(alpha):
        with pce.do(actions={"x": pce.Scale(alpha)}):
            x = pce.equilibrate("io", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(4)})
        return c @ x["x"]

    def closed_form(alpha):
        return c @ torch.linalg.solve(torch.eye(4) - alpha[:, None] * A, alpha * y)

    alpha = torch.full((4,), 0.9)
    expected = torch.autograd.functional.hessian(closed_form, alpha)
    torch.testing.assert_close(
        torch.autograd.functional.hessian(pce_loss, alpha), expected, rtol=1e-9, atol=1e-11
    )


def test_first_order_gradient_is_unchanged_and_values_are_the_solution():
    loss, b = tanh_loss("default")
    x = b.clone().requires_grad_()
    value = loss(x)
    (g,) = torch.autograd.grad(value, x)
    torch.testing.assert_close(g, fd_hvp(lambda z: loss(z), b, torch.zeros(3)) * 0 + g)
    eps = 1e-6
    fd = torch.stack([(loss(b + eps * e) - loss(b - eps * e)) / (2 * eps) for e in torch.eye(3)])
    torch.testing.assert_close(g, fd, rtol=1e-7, atol=1e-9)


def _tanh_node(b, W=None):
    W = contraction(3, 0.7, seed=2) if W is None else W
    return pce.equilibrate(
        "t", {"x": lambda x: torch.tanh(x @ W.T + b)}, init={"x": torch.zeros(3)}
    )["x"]


def test_torch_func_grad_jacrev_and_nested_transforms_are_exact():
    b = torch.randn(3, generator=torch.Generator().manual_seed(8))

    def loss(b):
        return (_tanh_node(b) ** 3).sum()

    x = b.clone().requires_grad_()
    (expected_grad,) = torch.autograd.grad(loss(x), x)
    torch.testing.assert_close(torch.func.grad(loss)(b), expected_grad, rtol=1e-12, atol=1e-14)
    jacobian = torch.func.jacrev(_tanh_node)(b)
    torch.testing.assert_close(jacobian, torch.autograd.functional.jacobian(_tanh_node, b))
    hessian = torch.func.jacrev(torch.func.grad(loss))(b)
    columns = torch.stack([fd_hvp(loss, b, e) for e in torch.eye(3)], 1)
    torch.testing.assert_close(hessian, columns, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("transform", ["vmap", "hessian", "jacfwd"])
def test_unsupported_torch_func_transforms_raise_a_clear_error(transform):
    W = contraction(3, 0.7, seed=2)
    fn = getattr(torch.func, transform)(lambda b: (_tanh_node(b, W) ** 2).sum())
    arg = torch.zeros(2, 3) if transform == "vmap" else torch.zeros(3)
    with pytest.raises(pce.errors.UnsupportedTransformError, match="jacrev.*create_graph"):
        fn(arg)


@pytest.mark.parametrize("solver", SOLVERS)
def test_first_order_backward_on_an_ill_conditioned_system(solver):
    # ρ = 0.99: the adjoint's residual exceeds tol·||g||, so the first step's path is followed
    # after the final step's graph was freed by the same backward (it must use its own graph)
    n = 30
    A = torch.rand(n, n, generator=torch.Generator().manual_seed(9))
    A *= 0.99 / torch.linalg.eigvals(A).abs().max()
    y, c = torch.rand(n) + 0.1, torch.rand(n)
    alpha = torch.ones(n, requires_grad=True)
    with SOLVERS[solver](), pce.do(actions={"x": pce.Scale(alpha)}):
        x = pce.equilibrate("io", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(n)})["x"]
    (c @ x).backward()
    a = torch.ones(n, requires_grad=True)
    (c @ torch.linalg.solve(torch.eye(n) - a[:, None] * A, a * y)).backward()
    torch.testing.assert_close(alpha.grad, a.grad, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("order", [2, 3])
def test_third_derivative_is_exact_with_derivative_order_three(order):
    # scalar x = tanh(w x + θ): compare d³x/dθ³ with finite differences of d²x/dθ²
    w = 0.6

    def node(theta):
        return pce.equilibrate(
            "s",
            {"x": lambda x: torch.tanh(w * x + theta)},
            init={"x": torch.zeros(())},
            derivative_order=order,
            tol=1e-14,
        )["x"]

    def second(theta):
        t = theta.detach().requires_grad_()
        (d1,) = torch.autograd.grad(node(t), t, create_graph=True)
        (d2,) = torch.autograd.grad(d1, t, create_graph=True)
        return t, d2

    theta0 = torch.tensor(0.3)
    t, d2 = second(theta0)
    (d3,) = torch.autograd.grad(d2, t)
    eps = 1e-4
    fd = (second(theta0 + eps)[1] - second(theta0 - eps)[1]).detach() / (2 * eps)
    if order == 3:
        torch.testing.assert_close(d3, fd, rtol=1e-6, atol=1e-8)
    else:  # two frozen steps: exact Hessians only (documented)
        assert not torch.allclose(d3, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backward", ["none", "first", "hessian"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_a_solve_with_gradients_frees_its_state(solver, backward, monkeypatch):
    # the implicit gradient's state (map, solution, LU factors) must die with the graph: a
    # reference cycle through autograd's C++ nodes is invisible to the garbage collector and
    # leaked every solve's factorization (1.3 MB per call at 411 sectors)
    from pyro_causal_eq.internals.solvers import implicit

    alive = weakref.WeakSet()
    init = implicit._Products.__init__

    def register(self, *args):
        init(self, *args)
        alive.add(self)

    monkeypatch.setattr(implicit._Products, "__init__", register)
    n = 20
    A = contraction(n, 0.8, seed=3)
    y = torch.rand(n, generator=torch.Generator().manual_seed(5))
    for _ in range(2):
        alpha = torch.ones(n, requires_grad=True)
        with SOLVERS[solver](), pce.do(actions={"x": pce.Scale(alpha)}):
            x = pce.equilibrate("io", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(n)})
        loss = (x["x"] ** 2).sum()
        if backward == "first":
            loss.backward()
        elif backward == "hessian":
            (g,) = torch.autograd.grad(loss, alpha, create_graph=True)
            g.sum().backward()
            del g
        assert len(alive) == 1  # alive while the graph is
        del x, loss, alpha
        gc.collect()
        assert len(alive) == 0


def test_an_inexact_first_order_solve_is_corrected_by_the_first_step():
    """The unchecked first-order adjoint solve (an exact LU in the default) need not be exact:
    its residual is the cotangent reaching the first correction step, which corrects it with
    the checked solver. Here the unchecked solve uses a 1 % perturbed matrix."""
    from pyro_causal_eq.internals.solvers.implicit import attach_implicit_gradient

    n = 8
    A = contraction(n, 0.6, seed=7)
    theta = torch.rand(n, generator=torch.Generator().manual_seed(8), requires_grad=True)
    M = torch.eye(n) - A
    z_star = torch.linalg.solve(M, theta.detach())

    def f(z):
        return A @ z + theta

    def exact(vjp, g):
        return torch.linalg.solve(M.T, g)

    calls = []

    def inexact(g):
        calls.append(g)
        return torch.linalg.solve((1.01 * M).T, g)

    z = attach_implicit_gradient(f, z_star, exact, first_order_solver=inexact)
    (grad,) = torch.autograd.grad((z**2).sum(), theta, retain_graph=True)
    torch.testing.assert_close(grad, torch.linalg.solve(M.T, 2 * z_star), rtol=1e-12, atol=1e-12)
    assert len(calls) == 1  # used, then corrected
    (grad2,) = torch.autograd.grad((z**2).sum(), theta, create_graph=True)  # not used there
    assert len(calls) == 1
    torch.testing.assert_close(grad2, grad, rtol=1e-12, atol=1e-12)
