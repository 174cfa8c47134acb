"""Values of ``pce.equilibrate``: closed forms, scipy, batch shapes, plates, diagnostics."""

from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import scipy.optimize
import torch
from pyro import poutine
from solver_cases import BATCH_SHAPES, SOLVERS, contraction

import pyro_causal_eq as pce


def leontief(A, y, batch_shape=()):
    return pce.equilibrate("linear", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(len(A))})


@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("solver", SOLVERS)
def test_linear_matches_numpy_solve(solver, batch_shape):
    n = 4
    A = contraction(n)
    y = torch.randn(batch_shape + (n,))
    with SOLVERS[solver]():
        x = leontief(A, y)["x"]
    expected = np.linalg.solve(np.eye(n) - A.numpy(), y.numpy()[..., None])[..., 0]
    assert x.shape == batch_shape + (n,)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("solver", SOLVERS)
def test_scalar_node_closed_form(solver):
    with SOLVERS[solver]():
        x = pce.equilibrate("s", {"x": lambda x: 0.25 * x + 3.0}, init={"x": torch.tensor(0.0)})
    assert x["x"].shape == ()
    assert abs(float(x["x"]) - 4.0) < 1e-11


def tanh_system(W, b):
    return {"x": lambda x: torch.tanh(x @ W.T + b)}


def scipy_root(fun, x0):
    solution = scipy.optimize.root(fun, x0, method="hybr", tol=1e-14)
    assert solution.success, solution.message
    return solution.x


@pytest.mark.parametrize("batch_shape", BATCH_SHAPES, ids=str)
@pytest.mark.parametrize("solver", SOLVERS)
def test_tanh_system_matches_scipy(solver, batch_shape):
    n = 5
    W = contraction(n, 0.9, seed=1)
    b = torch.randn(batch_shape + (n,))
    with SOLVERS[solver]():
        x = pce.equilibrate("tanh", tanh_system(W, b), init={"x": torch.zeros(n)})["x"]
    assert x.shape == batch_shape + (n,)
    Wn, bn = W.numpy(), b.reshape(-1, n).numpy()
    for xi, bi in zip(x.reshape(-1, n).numpy(), bn, strict=True):
        ref = scipy_root(lambda v, bi=bi: v - np.tanh(Wn @ v + bi), np.zeros(n))
        np.testing.assert_allclose(xi, ref, rtol=1e-10, atol=1e-11)


def mixed_system(W, u, v, c):
    """A scalar node ``p`` and a vector node ``q`` in one cycle, plus a dangling node ``r``."""
    return {
        "p": lambda q: 0.5 * torch.tanh(v @ q) + 0.2,
        "q": lambda p, q: torch.tanh(W @ q + u * p + c),
        "r": lambda p, q: p * q.sum() + 1.0,
    }


@pytest.mark.parametrize("solver", SOLVERS)
def test_scalar_and_vector_nodes_match_scipy(solver):
    W = contraction(3, 0.5, seed=2)
    u, v, c = torch.tensor([0.3, -0.2, 0.1]), torch.tensor([0.4, 0.1, -0.3]), torch.randn(3)
    init = {"p": torch.tensor(0.0), "q": torch.zeros(3), "r": torch.tensor(0.0)}
    with SOLVERS[solver]():
        out = pce.equilibrate("mixed", mixed_system(W, u, v, c), init=init)
    assert out["p"].shape == () and out["q"].shape == (3,) and out["r"].shape == ()
    Wn, un, vn, cn = W.numpy(), u.numpy(), v.numpy(), c.numpy()

    def residual(z):
        p, q, r = z[0], z[1:4], z[4]
        return np.concatenate(
            [
                [p - (0.5 * np.tanh(vn @ q) + 0.2)],
                q - np.tanh(Wn @ q + un * p + cn),
                [r - (p * q.sum() + 1.0)],
            ]
        )

    ref = scipy_root(residual, np.zeros(5))
    got = np.concatenate([[float(out["p"])], out["q"].numpy(), [float(out["r"])]])
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("solver", SOLVERS)
def test_plate_batches_converge_per_element(solver):
    n = 3
    A = contraction(n, 0.7, seed=3)

    def model():
        with pyro.plate("units", 4):
            y = pyro.sample("y", dist.Normal(torch.zeros(n), 10.0).to_event(1))
            x = pce.equilibrate("io", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(n)})
        return y, x["x"]

    with SOLVERS[solver]():
        trace = poutine.trace(model).get_trace()
    y, x = trace.nodes["y"]["value"], trace.nodes["x"]["value"]
    assert x.shape == (4, n)
    expected = torch.linalg.solve(torch.eye(n) - A, y.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=1e-10)
    info = trace.nodes["x"]["infer"]["equilibrium"]
    assert info["residual"].shape == (4,)
    assert bool((info["residual"] <= 1e-12).all())


def test_elements_at_very_different_scales_each_converge():
    # residuals are relative per batch element: a tiny element is not swamped by a huge one
    y = torch.tensor([[1e-8], [1e8]]) * torch.ones(2, 2)
    A = torch.tensor([[0.0, 0.5], [0.5, 0.0]])
    for solver in (pce.Anderson(), pce.Picard()):
        with solver:
            x = leontief(A, y)["x"]
        torch.testing.assert_close(x, 2.0 * y, rtol=1e-11, atol=0.0)


def test_event_dims_declare_batched_init():
    y = torch.randn(3, 2)
    A = torch.tensor([[0.1, 0.2], [0.3, 0.1]])
    out = pce.equilibrate(
        "b", {"x": lambda x: x @ A.T + y}, init={"x": torch.ones(3, 2)}, event_dims={"x": 1}
    )
    expected = torch.linalg.solve(torch.eye(2) - A, y.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(out["x"], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", ["newton", "anderson", "picard"])
def test_diagnostics_in_trace(solver):
    def model():
        return pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.tensor(0.0)})

    with SOLVERS[solver]():
        trace = poutine.trace(model).get_trace()
    node = trace.nodes["x"]
    assert node["type"] == "sample" and node["infer"]["_deterministic"]
    info = node["infer"]["equilibrium"]
    assert info["solver"] == solver and info["converged"] is True and info["system"] == "s"
    assert info["iterations"] >= 1 and info["max_residual"] <= 1e-12
    assert abs(float(node["value"]) - 2.0) <= 1e-11


def test_default_solver_by_size():
    small = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1}, init={"x": torch.zeros(3)})
    with poutine.trace() as tracer:
        pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1}, init={"x": torch.zeros(3)})
        pce.equilibrate("l", {"z": lambda z: 0.5 * z + 1}, init={"z": torch.zeros(500)})
        # flip has no Jacobian rule: a black-box Jacobian, so Anderson first at this size
        pce.equilibrate("b", {"w": lambda w: 0.5 * w.flip(-1) + 1}, init={"w": torch.zeros(500)})
        pce.equilibrate("h", {"v": lambda v: 0.5 * v + 1}, init={"v": torch.zeros(700)})
    solvers = {k: tracer.trace.nodes[k]["infer"]["equilibrium"]["solver"] for k in "xzwv"}
    assert solvers == {"x": "newton", "z": "newton", "w": "anderson", "v": "anderson"}
    torch.testing.assert_close(small["x"], torch.full((3,), 2.0))


def test_overrides_per_call_and_innermost_solver_wins():
    with poutine.trace() as tracer, pce.Picard(), pce.Anderson(history=3):
        pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1}, init={"x": torch.zeros(2)}, tol=1e-6)
    info = tracer.trace.nodes["x"]["infer"]["equilibrium"]
    assert info["solver"] == "anderson" and info["max_residual"] <= 1e-6
    with pytest.raises(TypeError, match="unknown option"):
        pce.equilibrate("s", {"x": lambda x: 0.5 * x}, init={"x": torch.ones(2)}, tolerance=1)


@pytest.mark.parametrize("solver", [pce.Anderson, pce.Picard, pce.Newton])
def test_warm_start_reuses_previous_solution(solver):
    handler = solver(warm_start=True)
    theta = torch.tensor(1.0, requires_grad=True)

    def model():
        return pce.equilibrate(
            "w", {"x": lambda x: torch.tanh(0.5 * x + theta)}, init={"x": torch.zeros(2)}
        )

    with poutine.trace() as first, handler:
        x1 = model()["x"]
    with poutine.trace() as second, handler:
        x2 = model()["x"]
    torch.testing.assert_close(x1, x2, rtol=1e-12, atol=1e-12)
    it1 = first.trace.nodes["x"]["infer"]["equilibrium"]["iterations"]
    it2 = second.trace.nodes["x"]["infer"]["equilibrium"]["iterations"]
    assert it2 < it1
    # the gradient is still exact after a warm start that converged at once
    x2.sum().backward()
    x = x2.detach()[0]
    expected = 2 * (1 - x**2) / (1 - 0.5 * (1 - x**2))
    assert abs(float(theta.grad) - float(expected)) < 1e-10


def test_float32_systems_solve_with_a_looser_default_tolerance():
    A = torch.tensor([[0.1, 0.2], [0.3, 0.1]], dtype=torch.float32)
    y = torch.tensor([1.0, 2.0], dtype=torch.float32)
    for solver in (pce.Newton(), pce.Anderson(), pce.Picard()):
        with solver:
            x = pce.equilibrate(
                "f", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(2, dtype=torch.float32)}
            )["x"]
        assert x.dtype == torch.float32
        expected = torch.linalg.solve(torch.eye(2) - A.double(), y.double())
        torch.testing.assert_close(x.double(), expected, rtol=1e-5, atol=1e-6)
