"""Regressions found by outside-style checks: element-level downstream check, unstable deployed
systems, the paper's eq. (4) with the source node x as a node of the system."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

import pyro_causal_eq as pce
from pyro_causal_eq.economics.rebound import rebound_model
from pyro_causal_eq.invariance import InvariantOptions, learn_invariant_intervention

D = torch.float64


def uniform(lo: float, hi: float) -> torch.distributions.Uniform:
    return torch.distributions.Uniform(torch.tensor(lo, dtype=D), torch.tensor(hi, dtype=D))


def eq4(tau=1.0, alpha=1.0, beta=0.5, gamma=0.5, nonlinear=False):
    """The paper's eq. (4) with x as a node: x = τ, y = αx + βz, z = γy (or a nonlinear z)."""

    def z(y):
        return gamma * torch.sin(y) + 0.1 * y**2 if nonlinear else gamma * y

    return pce.equilibrate(
        "eq4",
        {
            "x": lambda: tau + 0 * torch.as_tensor(alpha),
            "y": lambda x, z: alpha * x + beta * z,
            "z": z,
        },
        init={"x": torch.zeros(()), "y": torch.zeros(()), "z": torch.zeros(())},
    )


@pytest.mark.parametrize("nonlinear", [False, True])
def test_eq4_with_source_node_on_parameters_we_choose(nonlinear):
    parameters = {"tau": uniform(0.5, 1.5), "alpha": uniform(0.8, 1.2)}
    result = learn_invariant_intervention(
        lambda **p: eq4(nonlinear=nonlinear, **p),
        {"y": pce.Scale(1.3)},
        "z",
        parameters=parameters,
        steps=0,
        options=InvariantOptions(hidden=(8,), num_train=48, num_test=16, lm_steps=15, check=False),
    )
    tau, alpha = torch.tensor([0.6, 1.0, 1.4]), torch.tensor([1.15, 0.85, 1.0])
    ref = eq4(tau, alpha, nonlinear=nonlinear)["z"]
    if not nonlinear:  # closed form z* = γ α τ / (1 - β γ)
        assert torch.allclose(ref, 0.5 * alpha * tau / 0.75, atol=1e-12)
    with torch.no_grad(), result.handler():
        z = eq4(tau, alpha, nonlinear=nonlinear)["z"]
    assert float(((z - ref) / ref).abs().max()) < 5e-3
    lie = pce.do(eq4, actions={"y": pce.Scale(1.3)})(tau, alpha, nonlinear=nonlinear)["z"]
    assert float(((lie - ref) / ref).abs().min()) > 0.05  # the plain intervention moves z


def test_invariant_element_not_moved_by_the_intervention_is_an_error():
    # p[2] = Σ_i A_i2 p_i + A_12 = 0 whatever the efficiency: the node p is downstream of the
    # intervention, this element is not
    with pytest.raises(ValueError, match=r"element 'p\[2\]' is not downstream"):
        learn_invariant_intervention(
            rebound_model,
            {"efficiency": pce.Scale(0.6)},
            "p[2]",
            "p[0]",
            {"a01": uniform(0.01, 0.19)},
            steps=0,
            options=InvariantOptions(num_train=4, lm_steps=0),
        )


def test_unstable_deployed_system_gives_inf_errors_and_a_warning():
    class Steep(nn.Module):  # flat below the mean of y, steep above: the loop y <-> z diverges
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.tensor(50.0))

        def forward(self, features):
            return self.gain * torch.relu(features)

    def model(tau=1.0):
        return pce.equilibrate(
            "s",
            {"y": lambda z: tau + 0.5 * z, "z": lambda y: 0.5 * y},
            init={"y": torch.zeros(()), "z": torch.zeros(())},
        )

    with pytest.warns(UserWarning, match=r"no stable equilibrium for \d+ of 6"):
        result = learn_invariant_intervention(
            model,
            {"y": pce.Scale(1.3)},
            "z",
            parameters={"tau": uniform(0.5, 1.5)},
            steps=0,
            options=InvariantOptions(
                network=Steep(), num_train=8, num_test=6, lm_steps=0, check=False
            ),
        )
    errors = result.errors["z"]
    assert bool(torch.isinf(errors).any()) and bool(torch.isfinite(errors).any())
    assert math.isinf(result.invariance_error)


def test_changing_an_intervention_trained_without_a_range_warns():
    def model(tau=1.0):
        return pce.equilibrate(
            "s",
            {"y": lambda z: tau + 0.5 * z, "z": lambda y: 0.5 * y},
            init={"y": torch.zeros(()), "z": torch.zeros(())},
        )

    result = learn_invariant_intervention(
        model,
        {"y": pce.Scale(1.3)},
        "z",
        parameters={"tau": uniform(0.5, 1.5)},
        steps=0,
        options=InvariantOptions(hidden=(2,), num_train=8, num_test=4, lm_steps=2),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result.handler({"y": pce.Scale(1.3)})  # the trained element: no warning
    with pytest.warns(UserWarning, match="differs from the one the mechanism of 'z' was trained"):
        result.handler({"y": pce.Scale(1.1)})
    # parameter values chosen by the user may be plain lists
    errors = result.evaluate({"tau": [0.7, 0.9]})["z"]
    assert torch.allclose(errors, result.evaluate({"tau": torch.tensor([0.7, 0.9])})["z"])


@pytest.mark.parametrize(
    "options,error,match",
    [
        (dict(num_train=0), ValueError, "num_train must be positive"),
        (dict(lm_steps=-1), ValueError, "lm_steps must be non-negative"),
        (dict(network=lambda x: x), TypeError, "network must be a torch.nn.Module"),
    ],
)
def test_invariant_options_are_validated(options, error, match):
    with pytest.raises(error, match=match):
        InvariantOptions(**options)
