"""``pce.do`` on Pyro sites: pushforward of sample sites, param sites under SVI,
deterministic sites; replacements and constants."""

from __future__ import annotations

import functools

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO

import pyro_causal_eq as pce

T = functools.partial(torch.tensor, dtype=torch.float64)

SAMPLE_ACTIONS = {
    "scale": (pce.Scale(T(2.5)), lambda x: dist.Normal(2.5 * 1.0, 2.5 * 2.0).log_prob(x)),
    "shift": (pce.Shift(T(-1.5)), lambda x: dist.Normal(1.0 - 1.5, 2.0).log_prob(x)),
    "affine": (pce.Affine(T(0.5), T(3.0)), lambda x: dist.Normal(0.5 + 3.0, 0.5 * 2.0).log_prob(x)),
}


@pytest.mark.parametrize("group", SAMPLE_ACTIONS)
def test_action_on_sample_site_is_the_pushforward_density(group):
    action, log_density = SAMPLE_ACTIONS[group]

    def model():
        return pyro.sample("theta", dist.Normal(1.0, 2.0))

    observed = torch.tensor(0.7)
    conditioned = pyro.condition(pce.do(model, actions={"theta": action}), data={"theta": observed})
    trace = poutine.trace(conditioned).get_trace()
    assert torch.equal(trace.nodes["theta"]["value"], observed)
    assert torch.allclose(trace.log_prob_sum(), log_density(observed), atol=1e-12)
    # unconditioned: the value is g applied to the same base draw
    pyro.set_rng_seed(3)
    base = model()
    pyro.set_rng_seed(3)
    acted = pce.do(model, actions={"theta": action})()
    assert torch.allclose(acted, action(base), atol=1e-12)


def test_rotation_on_vector_sample_site_pushforward():
    R = pce.SO.exp(torch.tensor([0.3, -0.5, 0.8]))
    cov = torch.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    mean = torch.tensor([1.0, -1.0, 0.5])

    def model():
        return pyro.sample("v", dist.MultivariateNormal(mean, cov))

    value = torch.tensor([0.2, 0.4, -1.0])
    trace = poutine.trace(
        pyro.condition(pce.do(model, actions={"v": R}), data={"v": value})
    ).get_trace()
    expected = dist.MultivariateNormal(R.matrix @ mean, R.matrix @ cov @ R.matrix.T).log_prob(value)
    assert torch.allclose(trace.log_prob_sum(), expected, atol=1e-12)


def test_replace_and_constant_on_sample_site():
    def model():
        return pyro.sample("theta", dist.Normal(0.0, 1.0))

    replaced = pce.do(
        model, actions={"theta": pce.Replace(lambda d: dist.Normal(d.loc + 5.0, 0.1))}
    )
    trace = poutine.trace(pyro.condition(replaced, data={"theta": torch.tensor(5.0)})).get_trace()
    assert torch.allclose(trace.log_prob_sum(), dist.Normal(5.0, 0.1).log_prob(torch.tensor(5.0)))
    trace = poutine.trace(pce.do(model, actions={"theta": 4.0})).get_trace()
    assert float(trace.nodes["theta"]["value"]) == 4.0
    assert trace.nodes["theta"]["is_observed"]


def test_action_on_param_site_and_svi_updates_the_underlying_param():
    data = torch.tensor([3.0, 5.0, 4.0, 4.0])

    def model():
        w = pyro.param("w", torch.tensor(0.5))
        with pyro.plate("data", len(data)):
            pyro.sample("obs", dist.Normal(w, 1.0), obs=data)
        return w

    intervened = pce.do(model, actions={"w": pce.Scale(2.0)})
    assert float(intervened().detach()) == 1.0  # 2 · 0.5, and the store still holds 0.5
    assert float(pyro.param("w").detach()) == 0.5
    svi = SVI(intervened, lambda: None, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    for _ in range(300):
        svi.step()
    # the maximum likelihood of 2 w is mean(data) = 4, so the stored param goes to 2
    assert abs(float(pyro.param("w").detach()) - 2.0) < 1e-3


def test_replace_and_constant_on_param_and_deterministic_sites():
    def model():
        w = pyro.param("w", torch.tensor(2.0))
        return pyro.deterministic("d", w + 1.0)

    assert float(pce.do(model, actions={"w": pce.Replace(lambda v: v**2)})().detach()) == 5.0
    assert float(pce.do(model, actions={"w": 10.0})().detach()) == 11.0
    assert float(pce.do(model, actions={"d": -1.0})().detach()) == -1.0
    assert float(pce.do(model, actions={"d": pce.Replace(lambda v: 3 * v)})().detach()) == 9.0
