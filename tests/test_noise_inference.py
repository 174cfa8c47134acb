"""Noisy equilibria under Pyro inference: SVI (several ELBOs, vectorized particles), NUTS."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import MCMC, NUTS, SVI, Predictive, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.autoguide import AutoDelta, AutoNormal

import pyro_causal_eq as pce

F64 = torch.float64
B = torch.tensor([[0.0, 0.4, 0.0], [0.0, 0.0, -0.5], [0.3, 0.0, 0.2]], dtype=F64)
SIGMA = torch.tensor([0.5, 1.0, 2.0], dtype=F64)
MU = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
PRIOR_SCALE = 10.0


def model(data):
    mu = pyro.sample("mu", dist.Normal(torch.zeros(3), PRIOR_SCALE).to_event(1))
    with pyro.plate("data", data.shape[0]):
        return pce.equilibrate(
            "gauss",
            {"x": lambda x: x @ B.T + mu},
            init={"x": torch.zeros(3)},
            noise={"x": dist.Normal(torch.zeros(3), SIGMA).to_event(1)},
            obs={"x": data},
        )


def simulate(n: int) -> torch.Tensor:
    with pyro.plate("data", n):
        return pce.equilibrate(
            "gauss",
            {"x": lambda x: x @ B.T + MU},
            init={"x": torch.zeros(3)},
            noise={"x": dist.Normal(torch.zeros(3), SIGMA).to_event(1)},
        )["x"].detach()


def exact_posterior(data):
    """(I - B) x_i = mu + u_i, so mu | data is Gaussian (conjugate)."""
    y = data @ (torch.eye(3) - B).T
    precision = data.shape[0] / SIGMA**2 + 1 / PRIOR_SCALE**2
    return (y.sum(0) / SIGMA**2) / precision, precision.rsqrt()


def test_log_joint_is_stationary_at_the_conjugate_posterior_mode():
    data = simulate(200)
    mode, _ = exact_posterior(data)
    mu = mode.clone().requires_grad_(True)
    trace = poutine.trace(poutine.condition(model, data={"mu": mu})).get_trace(data)
    (grad,) = torch.autograd.grad(trace.log_prob_sum(), mu)
    assert torch.allclose(grad, torch.zeros(3), atol=1e-8)


def test_map_by_svi_approaches_the_conjugate_posterior_mode():
    data = simulate(100)
    mode, scale = exact_posterior(data)
    guide = AutoDelta(model)
    svi = SVI(model, guide, pyro.optim.ClippedAdam({"lr": 0.2, "lrd": 0.985}), Trace_ELBO())
    for _ in range(200):
        svi.step(data)
    learned = guide.median(data)["mu"]
    assert bool(((learned - mode).abs() < 0.1 * scale).all())


@pytest.mark.parametrize(
    "elbo",
    [Trace_ELBO(num_particles=4, vectorize_particles=True), TraceMeanField_ELBO()],
    ids=["trace-vectorized", "meanfield"],
)
def test_svi_with_autonormal_runs_and_gradients_are_finite(elbo):
    data = simulate(30)
    guide = AutoNormal(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), elbo)
    losses = [svi.step(data) for _ in range(5)]
    assert all(torch.isfinite(torch.tensor(losses)))
    for value in pyro.get_param_store().values():
        assert bool(torch.isfinite(value).all())


def test_latent_equilibrium_node_is_scored_at_the_guide_sample():
    """An unobserved noisy node: the guide proposes x, the model scores it (gradient in x)."""

    def latent_model(y):
        x = pce.equilibrate(
            "g",
            {"x": lambda x: x @ B.T + MU},
            init={"x": torch.zeros(3)},
            noise={"x": dist.Normal(torch.zeros(3), SIGMA).to_event(1)},
        )["x"]
        pyro.sample("y", dist.Normal(x, 0.1).to_event(1), obs=y)

    guide = AutoNormal(latent_model)
    elbo = Trace_ELBO()
    loss = elbo.differentiable_loss(latent_model, guide, torch.ones(3))
    params = [p.unconstrained() for p in pyro.get_param_store().values()]
    grads = torch.autograd.grad(loss, params)
    assert all(bool(torch.isfinite(g).all()) for g in grads)


def test_nuts_on_a_two_node_cycle_covers_the_truth():
    truth = 0.5

    def cycle(n, data=None):
        b = pyro.sample("b", dist.Uniform(-0.9, 0.9))
        with pyro.plate("data", n):
            return pce.equilibrate(
                "pair",
                {"a": lambda c: b * c + 1.0, "c": lambda a: 0.4 * a},
                init={"a": torch.zeros(()), "c": torch.zeros(())},
                noise={"a": dist.Normal(0.0, 0.5), "c": dist.Normal(0.0, 0.5)},
                obs=None if data is None else {"a": data[:, 0], "c": data[:, 1]},
            )

    pyro.set_rng_seed(3)
    sample = Predictive(cycle, posterior_samples={"b": torch.tensor([truth])})(300)
    data = torch.stack([sample["a"][0], sample["c"][0]], -1)
    mcmc = MCMC(NUTS(cycle), num_samples=60, warmup_steps=40, disable_progbar=True)
    mcmc.run(300, data)
    draws = mcmc.get_samples()["b"]
    assert draws.shape == (60,) and bool(torch.isfinite(draws).all())
    assert abs(float(draws.mean()) - truth) < 4 * float(draws.std()) + 0.05


def test_noisy_site_under_an_outer_particle_plate():
    """Batched parameters (an outer plate, as vectorized particles or parallel Predictive)."""

    def batched_model(n):
        with pyro.plate("particles", 7, dim=-2):
            mu = pyro.sample("mu", dist.Normal(torch.zeros(3), PRIOR_SCALE).to_event(1))
            with pyro.plate("data", n, dim=-1):
                return pce.equilibrate(
                    "gauss",
                    {"x": lambda x: x @ B.T + mu},
                    init={"x": torch.zeros(3)},
                    noise={"x": dist.Normal(torch.zeros(3), SIGMA).to_event(1)},
                )

    trace = poutine.trace(batched_model).get_trace(5)
    x, mu = trace.nodes["x"]["value"], trace.nodes["mu"]["value"]
    assert x.shape == (7, 5, 3) and mu.shape == (7, 1, 3)
    inv = torch.linalg.inv(torch.eye(3) - B)
    cov = inv @ torch.diag(SIGMA**2) @ inv.T
    expected = dist.MultivariateNormal(mu @ inv.T, cov).log_prob(x)
    assert torch.allclose(trace.nodes["x"]["fn"].log_prob(x), expected, atol=1e-12)
