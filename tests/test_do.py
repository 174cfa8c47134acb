"""``pce.do``: Lie, replacement and hard interventions on nodes and on Pyro sites."""

from __future__ import annotations

import functools

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Predictive
from solver_cases import SOLVERS

import pyro_causal_eq as pce

T = functools.partial(torch.tensor, dtype=torch.float64)
N = 3
A = T([[0.0, 0.2, 0.1], [0.3, 0.0, 0.2], [0.1, 0.25, 0.0]])
Y = T([1.0, 2.0, 0.5])
EYE = torch.eye(N, dtype=torch.float64)


def linear_model(y=Y):
    return pce.equilibrate("io", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(N)})


def solve(M, v):
    return torch.linalg.solve(M, v.unsqueeze(-1)).squeeze(-1)


ROTATION = pce.SO.exp(T([0.4, -0.3, 0.2]))
NODE_ACTIONS = {
    # action, closed form of x = g · (A x + y)
    "scale": (pce.Scale(T([0.5, 1.5, 1.0])), lambda a: solve(EYE - a[:, None] * A, a * Y)),
    "shift": (pce.Shift(T([1.0, -1.0, 0.5])), lambda d: solve(EYE - A, Y + d)),
    "affine": (
        pce.Affine(T([0.5, 1.5, 1.0]), T([1.0, -1.0, 0.5])),
        lambda st: solve(EYE - st[0][:, None] * A, st[0] * Y + st[1]),
    ),
    "so": (ROTATION, lambda R: solve(EYE - R @ A, R @ Y)),
}
NODE_ARGS = {
    "scale": lambda g: g.factor,
    "shift": lambda g: g.delta,
    "affine": lambda g: (g.scale, g.shift),
    "so": lambda g: g.matrix,
}


@pytest.mark.parametrize("group", NODE_ACTIONS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_group_action_on_equilibrium_node_closed_form(solver, group):
    action, closed_form = NODE_ACTIONS[group]
    with SOLVERS[solver](), pce.do(actions={"x": action}):
        x = linear_model()["x"]
    torch.testing.assert_close(x, closed_form(NODE_ARGS[group](action)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "identity",
    [
        lambda: pce.Scale.identity((N,)),
        lambda: pce.Shift.identity((N,)),
        lambda: pce.Affine.identity((N,)),
        lambda: pce.SO.identity(n=N),
    ],
    ids=["scale", "shift", "affine", "so"],
)
def test_identity_leaves_model_unchanged_bit_for_bit(identity):
    def model():
        theta = pyro.sample("theta", dist.Normal(torch.zeros(N), 1.0).to_event(1))
        w = pyro.param("w", torch.tensor(0.7))
        x = pce.equilibrate(
            "s", {"x": lambda x: torch.tanh(w * x @ A.T + theta)}, init={"x": torch.zeros(N)}
        )
        pyro.deterministic("d", x["x"] * 2)
        return x["x"]

    pyro.set_rng_seed(1)
    plain = poutine.trace(model).get_trace()
    pyro.set_rng_seed(1)
    actions = {"x": identity(), "theta": identity(), "d": identity()}
    acted = poutine.trace(pce.do(model, actions=actions)).get_trace()
    for site in ("theta", "x", "d"):
        assert torch.equal(plain.nodes[site]["value"], acted.nodes[site]["value"])
    plain.compute_log_prob()
    acted.compute_log_prob()
    assert torch.equal(plain.nodes["theta"]["log_prob"], acted.nodes["theta"]["log_prob"])


def test_nested_do_on_same_node_composes():
    with pce.do(actions={"x": pce.Scale(1.2)}), pce.do(actions={"x": pce.Shift(Y)}):
        x = linear_model()["x"]
    # inner action first: x = 1.2 (A x + y + y)
    torch.testing.assert_close(x, solve(EYE - 1.2 * A, 2.4 * Y), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", ["newton", "anderson", "picard"])
@pytest.mark.parametrize("order", ["do_outside", "do_inside"])
def test_do_and_solver_handlers_nest_in_either_order(solver, order):
    alpha = torch.tensor([0.5, 1.5, 1.0])
    do = pce.do(actions={"x": pce.Scale(alpha)})
    handlers = (do, SOLVERS[solver]()) if order == "do_outside" else (SOLVERS[solver](), do)
    with poutine.trace() as tracer, handlers[0], handlers[1]:
        linear_model()
    node = tracer.trace.nodes["x"]
    assert node["infer"]["equilibrium"]["solver"] == solver
    expected = solve(EYE - alpha[:, None] * A, alpha * Y)
    torch.testing.assert_close(node["value"], expected, rtol=1e-10, atol=1e-12)


def two_node_model():
    mechanisms = {"x": lambda x, w: 0.5 * x + w, "w": lambda x: 0.1 * x + 1.0}
    return pce.equilibrate("xw", mechanisms, init={"x": torch.tensor(0.0), "w": torch.tensor(0.0)})


def test_replace_with_same_parents():
    with pce.do(actions={"w": pce.Replace(lambda x: 0.2 * x + 2.0)}):
        out = two_node_model()
    # x = 0.5 x + 0.2 x + 2  ->  x = 2 / 0.3
    assert abs(float(out["x"]) - 2 / 0.3) < 1e-10
    assert abs(float(out["w"]) - (0.2 * 2 / 0.3 + 2.0)) < 1e-10


def test_replace_with_kwargs_receives_the_parents():
    seen = []

    def mechanism(**parents):
        seen.append(sorted(parents))
        return 0.25 * parents["x"]

    with pce.do(actions={"w": pce.Replace(mechanism)}):
        out = two_node_model()
    assert seen[0] == ["x"]
    assert abs(float(out["x"])) < 1e-12  # x = 0.75 x


def test_replace_with_extra_parents_raises():
    with pytest.raises(ValueError, match="not parents of 'w'"):
        with pce.do(actions={"w": pce.Replace(lambda x, w: x + w)}):
            two_node_model()


def test_hard_intervention_on_node():
    with pce.do(actions={"w": 3.0}):
        out = two_node_model()
    assert float(out["w"]) == 3.0
    assert abs(float(out["x"]) - 6.0) < 1e-10


def test_action_on_one_node_of_a_system_and_downstream_deterministic():
    def model():
        out = two_node_model()
        return pyro.deterministic("y", 2.0 * out["x"])

    with poutine.trace() as tracer, pce.do(actions={"x": pce.Shift(1.0), "y": pce.Scale(0.5)}):
        y = model()
    # x = 0.5 x + w + 1, w = 0.1 x + 1  ->  x = 2 / 0.4 = 5
    assert abs(float(tracer.trace.nodes["x"]["value"]) - 5.0) < 1e-10
    assert abs(float(y) - 5.0) < 1e-10  # 0.5 · (2 · 5)


def test_intervened_equilibrium_feeds_a_conditioned_observation():
    def model():
        x = linear_model()["x"]
        return pyro.sample("obs", dist.Normal(x.sum(), 1.0))

    observed = torch.tensor(10.0)
    with pce.do(actions={"x": pce.Scale(torch.tensor(1.2))}):
        trace = poutine.trace(pyro.condition(model, data={"obs": observed})).get_trace()
    x = solve(EYE - 1.2 * A, 1.2 * Y)
    assert torch.allclose(trace.log_prob_sum(), dist.Normal(x.sum(), 1.0).log_prob(observed))


@pytest.mark.parametrize("parallel", [False, True])
def test_predictive_with_plates_and_intervention(parallel):
    alpha = torch.tensor([0.5, 1.5, 1.0])

    def model():
        with pyro.plate("units", 4):
            y = pyro.sample("y", dist.Normal(Y, 0.3).to_event(1))
            x = pce.equilibrate("io", {"x": lambda x: x @ A.T + y}, init={"x": torch.zeros(N)})
        return x

    predictive = Predictive(
        pce.do(model, actions={"x": pce.Scale(alpha)}), num_samples=5, parallel=parallel
    )
    samples = predictive()
    y, x = samples["y"], samples["x"]
    assert x.shape == (5, 4, N)
    expected = solve(EYE - alpha[:, None] * A, alpha * y)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=1e-12)


def test_actions_across_two_systems_in_one_model():
    def model():
        x = linear_model()["x"]
        z = pce.equilibrate(
            "second", {"z": lambda z: 0.5 * z + x.sum()}, init={"z": torch.tensor(0.0)}
        )
        return x, z["z"]

    with pce.do(actions={"x": pce.Scale(2.0), "z": pce.Shift(1.0)}):
        x, z = model()
    expected = solve(EYE - 2.0 * A, 2.0 * Y)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=1e-12)
    assert abs(float(z) - 2 * (float(expected.sum()) + 1.0)) < 1e-9


def test_unknown_keys_raise_key_error():
    with pytest.raises(KeyError, match="nonexistent"):
        pce.do(linear_model, actions={"x": pce.Scale(2.0), "nonexistent": pce.Scale(2.0)})()
    with pytest.raises(KeyError, match="nonexistent"):
        with pce.do(actions={"nonexistent": 1.0}):
            linear_model()


@pytest.mark.parametrize(
    "action, error, match",
    [
        (lambda x: x, TypeError, "Replace"),
        ("a string", TypeError, "Lie group element"),
        (float("nan"), ValueError, "not finite"),
    ],
)
def test_bad_actions_raise(action, error, match):
    with pytest.raises(error, match=match):
        pce.do(actions={"x": action})
    with pytest.raises(TypeError, match="dict"):
        pce.do(actions=[("x", 1.0)])


def test_scale_with_non_positive_factor_is_rejected_before_solving():
    with pytest.raises(ValueError, match="positive"):
        pce.do(linear_model, actions={"x": pce.Scale(torch.tensor([1.0, 0.0, 1.0]))})()
