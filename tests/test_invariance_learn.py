"""Learning invariant interventions: accuracy on held-out parameters, API, errors, warnings."""

from __future__ import annotations

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from scipy.optimize import root
from torch import nn

import pyro_causal_eq as pce
from pyro_causal_eq.economics.rebound import ENERGY, rebound_model
from pyro_causal_eq.invariance import (
    InvariantIntervention,
    InvariantOptions,
    InvariantReads,
    NodeRef,
    ReplaceElement,
    learn_invariant_intervention,
)

D = torch.float64
OPTS = InvariantOptions(hidden=(8,), num_train=48, num_test=16, lm_steps=15)
SMALL = dict(steps=0, options=OPTS)


def eq4(tau=1.0, gamma=0.5):
    """The paper's motivating example (4): x = τ, y = x + z / 2, z = γ y."""
    return pce.equilibrate(
        "eq4",
        {"y": lambda z: z * 0.5 + tau, "z": lambda y: gamma * y},
        init={"y": torch.zeros(()), "z": torch.zeros(())},
    )


def uniform(lo: float, hi: float) -> torch.distributions.Uniform:
    return torch.distributions.Uniform(torch.tensor(lo, dtype=D), torch.tensor(hi, dtype=D))


TAU = {"tau": uniform(0.5, 1.5)}


def test_eq4_invariance_on_parameters_we_choose():
    result = learn_invariant_intervention(eq4, {"y": pce.Scale(1.3)}, "z", parameters=TAU, **SMALL)
    assert isinstance(result, InvariantIntervention)
    assert result.invariance_error < 1e-3
    tau = torch.tensor([0.55, 0.8, 1.0, 1.45])
    with result.handler():
        z = eq4(tau)["z"]
    z_star = tau * 0.5 / (1 - 0.25)  # closed form of the unintervened z
    assert torch.allclose(z, z_star, rtol=1e-3)
    # a plain Lie intervention moves z a lot
    assert float((pce.do(eq4, actions={"y": pce.Scale(1.3)})(tau)["z"] / z_star).min()) > 1.2
    # the same system through pce.do + pce.Replace
    actions = result.actions()
    assert isinstance(actions["z"], pce.Replace)
    assert torch.allclose(pce.do(eq4, actions=actions)(tau)["z"], z)
    assert torch.allclose(
        pce.do(eq4, actions={"y": pce.Scale(1.3), "z": pce.Replace(result.mechanism)})(tau)["z"], z
    )  # noqa: E501
    errors = result.evaluate({"tau": tau})["z"]
    assert torch.allclose(errors, ((z - z_star).abs() / z_star))


def test_rebound_invariant_intervention_saves_energy():
    a01 = uniform(0.01, 0.19)
    result = learn_invariant_intervention(
        rebound_model,
        {"efficiency": pce.Scale(0.6)},
        "y[0]",
        "p[0]",
        {"a01": a01},
        steps=0,
        options=InvariantOptions(hidden=(8, 8), num_train=48, num_test=32, lm_steps=15),
    )
    assert result.invariance_error < 5e-3
    assert [f.label for f in result.mechanism.features] == ["p[1]", "p[2]"]
    chosen = torch.tensor([0.02, 0.1, 0.18])
    ref = rebound_model(a01=chosen)
    with result.handler():
        inv = rebound_model(a01=chosen)
    lie = pce.do(rebound_model, actions={"efficiency": pce.Scale(0.6)})(a01=chosen)
    assert torch.allclose(inv["y"][:, 0], ref["y"][:, 0], rtol=5e-3)
    assert bool((lie["x"][:, ENERGY] > ref["x"][:, ENERGY]).all())  # backfire
    assert bool((inv["x"][:, ENERGY] < ref["x"][:, ENERGY]).all())  # saving
    # at the reference point, energy use is close to the exact tax solution (≈ 1.482)
    assert float(inv["x"][1, ENERGY].detach()) == pytest.approx(1.482, abs=2e-3)
    with pytest.raises(ValueError, match="element"):
        result.actions()


def test_custom_network():
    class Affine(nn.Module):  # z* = y / (2u) is linear in y for a fixed u
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(1, 1)

        def forward(self, x):
            return self.linear(x)

    result = learn_invariant_intervention(
        eq4,
        {"y": pce.Scale(1.3)},
        "z",
        parameters=TAU,
        steps=0,
        options=InvariantOptions(network=Affine(), num_train=8, num_test=16, lm_steps=5),
    )
    assert result.invariance_error < 1e-8
    assert isinstance(result.mechanism.network, Affine)
    with pytest.raises(TypeError, match="nn.Module"):
        learn_invariant_intervention(
            eq4,
            {"y": pce.Scale(1.3)},
            "z",
            parameters=TAU,
            steps=0,
            options=OPTS.replace(network=lambda x: x),
        )


def test_intervention_range():
    log_u = uniform(math.log(0.8), math.log(1.25))
    result = learn_invariant_intervention(
        eq4,
        {"y": pce.Scale(1.0)},
        "z",
        parameters=TAU,
        steps=0,
        options=InvariantOptions(
            intervention_range={"y": log_u}, hidden=(8,), num_train=32, num_test=16, lm_steps=10
        ),
    )
    assert result.invariance_error < 5e-3
    tau = torch.tensor([0.7, 1.2])
    for u in (0.85, 1.2):
        errors = result.evaluate({"tau": tau}, {"y": pce.Scale(u)})["z"]
        assert float(errors.max()) < 5e-3
        with result.handler({"y": pce.Scale(u)}):
            y = eq4(tau)["y"]
        z_star = tau / 1.5
        assert torch.allclose(y, u * (tau + 0.5 * z_star), rtol=1e-2)
    with pytest.raises(KeyError, match="no trained intervention"):
        result.handler({"z": pce.Scale(1.0)})


def test_invalid_triplets_raise_clear_errors():
    with pytest.raises(ValueError, match="equals the intervened"):
        learn_invariant_intervention(eq4, {"y": pce.Scale(1.3)}, "z", "y", TAU, **SMALL)
    with pytest.raises(ValueError, match="equals the intervened"):
        learn_invariant_intervention(eq4, {"y": pce.Scale(1.3)}, "y", "z", TAU, **SMALL)
    with pytest.raises(KeyError, match="not an equilibrium node"):
        learn_invariant_intervention(eq4, {"y": pce.Scale(1.3)}, "w", parameters=TAU, **SMALL)
    with pytest.raises(KeyError, match="intervened 'q'"):
        learn_invariant_intervention(eq4, {"q": pce.Scale(1.3)}, "z", parameters=TAU, **SMALL)
    with pytest.raises(KeyError, match="neither keyword"):
        learn_invariant_intervention(
            eq4,
            {"y": pce.Scale(1.3)},
            "z",
            parameters={"nope": uniform(0.0, 1.0)},
            **SMALL,
        )
    with pytest.raises(IndexError, match="does not fit"):
        learn_invariant_intervention(
            rebound_model,
            {"efficiency": pce.Scale(0.6)},
            "y[5]",
            "p[0]",
            {"a01": uniform(0.01, 0.19)},
            **SMALL,
        )

    def upstream(tau=1.0):
        # a -> b only: an intervention on b cannot reach a
        return pce.equilibrate(
            "chain",
            {"a": lambda: tau, "b": lambda a: 0.5 * a},
            init={"a": torch.zeros(()), "b": torch.zeros(())},
        )

    with pytest.raises(ValueError, match="not downstream"):
        learn_invariant_intervention(upstream, {"b": pce.Scale(2.0)}, "a", parameters=TAU)
    with pytest.raises(ValueError, match="parameters"):
        learn_invariant_intervention(eq4, {"y": pce.Scale(1.3)}, "z")


def test_warning_names_the_failing_part():
    gamma = {"gamma": uniform(0.4, 0.6)}
    # γ reaches the parent y only through z itself: the replacement cannot track it
    with pytest.warns(UserWarning, match="held fixed"):
        result = learn_invariant_intervention(
            eq4, {"y": pce.Scale(1.3)}, "z", parameters=gamma, **SMALL
        )
    assert result.invariance_error > 1e-2  # and indeed invariance is not achieved
    # auxiliary x[0] has no effect on y[0] in the rebound model: part (c) fails
    with pytest.warns(UserWarning, match=r"\(c\) effect .*: False"):
        learn_invariant_intervention(
            rebound_model,
            {"efficiency": pce.Scale(0.6)},
            "y[0]",
            "x[0]",
            {"a01": uniform(0.01, 0.19)},
            steps=0,
            options=InvariantOptions(hidden=(2,), num_train=4, num_test=4, lm_steps=1),
        )


def test_invariant_reads_and_replace_element():
    # x = 0.5 y + 1, y = 0.5 x: y reads x; with x invariant at 10, y must read 10
    def model():
        return pce.equilibrate(
            "s",
            {"x": lambda y: 0.5 * y + 1.0, "y": lambda x: 0.5 * x},
            init={"x": torch.zeros(()), "y": torch.zeros(())},
        )

    with InvariantReads({NodeRef("x"): torch.tensor(10.0)}, {"x": 0, "y": 0}):
        eq = model()
    assert float(eq["y"]) == pytest.approx(5.0)
    assert float(eq["x"]) == pytest.approx(3.5)

    # element version: v[1] reads v[0] (fixed at 4), v[0] reads itself
    def vector():
        return pce.equilibrate(
            "v",
            {"v": lambda v: torch.stack([0.5 * v[..., 0] + 1, 0.5 * v[..., 0]], -1)},
            init={"v": torch.zeros(2)},
        )

    with InvariantReads({NodeRef("v", (0,)): torch.tensor([4.0, 0.0])}, {"v": 1}):
        v = vector()["v"]
    assert v.tolist() == pytest.approx([2.0, 2.0])
    with ReplaceElement(("v", 1), lambda v: v[..., 0] + 3.0):
        v = vector()["v"]
    assert v.tolist() == pytest.approx([2.0, 5.0])
    with pytest.raises(ValueError, match="not a node"):
        with ReplaceElement("v[1]", lambda w: w):
            vector()


def test_scipy_confirms_learned_rebound_equilibrium():
    """The deployed intervened rebound equilibrium solves its own equations (scipy root)."""
    result = learn_invariant_intervention(
        rebound_model,
        {"efficiency": pce.Scale(0.6)},
        "y[0]",
        "p[0]",
        {"a01": uniform(0.01, 0.19)},
        steps=0,
        options=InvariantOptions(hidden=(4,), num_train=16, num_test=8, lm_steps=5, check=False),
    )
    with result.handler():
        eq = rebound_model()
    mech = result.mechanism
    A = np.array([[0.0, 0.1, 0.0], [0.3, 0.0, 0.0], [0.1, 0.2, 0.0]])

    def residual(z):
        p, y, x = z[:3], z[3:6], z[6:]
        fp = A.T @ p + A[1]
        with torch.no_grad():
            fp[0] = float(mech(p=torch.tensor(p)))
        d = 1.42 / (np.exp(10 * (p / 0.4 - 1)) + 1)
        return np.concatenate([p - fp, y - d, x - (A @ x + y)])

    sol = root(residual, np.zeros(9), tol=1e-13)
    np.testing.assert_allclose(eq["x"].detach().numpy(), sol.x[6:], atol=1e-9)


def test_vector_nodes_and_sample_site_parameters():
    """Whole vector nodes, a free parameter given as a sample site, a vector Scale."""
    B = torch.tensor([[0.3, 0.1], [0.0, 0.4]])
    A = torch.tensor([[0.2, 0.1], [0.1, 0.2]])

    def model():
        theta = pyro.sample("theta", dist.Normal(torch.zeros(2), 1.0).to_event(1))
        return pce.equilibrate(
            "s",
            {
                "x": lambda z: (A @ z.unsqueeze(-1)).squeeze(-1) + theta + 2.0,
                "z": lambda x: (B @ x.unsqueeze(-1)).squeeze(-1) + 0.5,
            },
            init={"x": torch.zeros(2), "z": torch.zeros(2)},
        )

    low = torch.full((2,), -0.5)
    parameters = {"theta": dist.Uniform(low, -low).to_event(1)}
    scale = pce.Scale(torch.tensor([1.2, 0.9]))
    result = learn_invariant_intervention(model, {"x": scale}, "z", parameters=parameters, **SMALL)
    assert result.mechanism.out_shape == (2,)
    theta = torch.tensor([[0.3, -0.2], [-0.4, 0.4]])
    ref = pyro.condition(model, data={"theta": theta})()
    with result.handler():
        out = pyro.condition(model, data={"theta": theta})()
    # closed form of the unintervened z: z = B (I - A B)⁻¹ (A 0.5 + θ + 2) + 0.5
    eye = torch.eye(2)
    x_star = torch.linalg.solve(eye - A @ B, (A @ torch.full((2,), 0.5) + theta + 2.0).T).T
    assert torch.allclose(ref["z"], x_star @ B.T + 0.5, atol=1e-12)
    assert torch.allclose(out["z"], ref["z"], rtol=5e-3)
