"""Noisy structural assignments: the equilibrium pushforward distribution and its sites."""

from __future__ import annotations

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

import pyro_causal_eq as pce
from pyro_causal_eq.distributions import EquilibriumDistribution, Hutchinson, PartialNoise

F64 = torch.float64
B = torch.tensor([[0.0, 0.4, 0.0], [0.0, 0.0, -0.5], [0.3, 0.0, 0.2]], dtype=F64)
MU = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
SIGMA = torch.tensor([0.5, 1.0, 2.0], dtype=F64)


def linear_model(B=B, mu=MU, sigma=SIGMA, obs=None):
    return pce.equilibrate(
        "gauss",
        {"x": lambda x: x @ B.T + mu},
        init={"x": torch.zeros(3)},
        noise={"x": dist.Normal(torch.zeros(3), sigma).to_event(1)},
        obs=None if obs is None else {"x": obs},
    )


def closed_form(B=B, mu=MU, sigma=SIGMA):
    inv = torch.linalg.inv(torch.eye(3) - B)
    return dist.MultivariateNormal(inv @ mu, inv @ torch.diag(sigma**2) @ inv.T)


def site(model, name, *args, **kwargs):
    return poutine.trace(model).get_trace(*args, **kwargs).nodes[name]


def test_linear_gaussian_log_prob_matches_closed_form():
    x = torch.randn(7, 3)
    node = site(linear_model, "x", obs=x)
    assert node["is_observed"] and node["type"] == "sample"
    assert torch.allclose(node["fn"].log_prob(x), closed_form().log_prob(x), atol=1e-12)


def test_pyro_condition_scores_like_obs():
    x = torch.randn(4, 3)
    trace = poutine.trace(pyro.condition(linear_model, data={"x": x})).get_trace()
    assert torch.allclose(trace.log_prob_sum(), closed_form().log_prob(x).sum(), atol=1e-12)


def test_rsample_moments_and_gradient_match_closed_form():
    mu = MU.clone().requires_grad_(True)
    law = site(linear_model, "x", mu=mu)["fn"]
    samples = law.rsample((4000,))
    ref = closed_form()
    err = (samples.mean(0) - ref.mean).detach()
    assert bool((err.abs() < 5 * ref.variance.sqrt() / 4000**0.5).all())
    # x = (I - B)⁻¹ (mu + u): d(sum of the mean)/dmu = 1ᵀ (I - B)⁻¹
    (grad,) = torch.autograd.grad(samples.mean(0).sum(), mu)
    expected = torch.linalg.inv(torch.eye(3) - B).sum(0)
    assert torch.allclose(grad, expected, atol=1e-10)


def scalar_nodes(noisy=("a", "b", "c")):
    mechanisms = {
        "a": lambda b: 0.4 * b + 1.0,
        "b": lambda c: -0.5 * c - 1.0,
        "c": lambda a, c: 0.3 * a + 0.2 * c + 0.5,
    }
    noise = {k: dist.Normal(0.0, float(s)) for k, s in zip("abc", SIGMA, strict=True) if k in noisy}
    return mechanisms, noise


def test_several_noisy_nodes_form_one_joint_site():
    mechanisms, noise = scalar_nodes()
    obs = torch.randn(5, 3)
    data = {k: obs[:, i] for i, k in enumerate("abc")}
    trace = poutine.trace(
        lambda: pce.equilibrate(
            "s", mechanisms, init={k: torch.zeros(()) for k in "abc"}, noise=noise, obs=data
        )
    ).get_trace()
    joint = trace.nodes["s"]
    assert joint["fn"].event_shape == (3,)
    assert torch.allclose(joint["fn"].log_prob(obs), closed_form().log_prob(obs), atol=1e-12)
    assert torch.equal(trace.nodes["b"]["value"], obs[:, 1])


def test_nodes_without_noise_are_integrated_out_exactly():
    mechanisms, noise = scalar_nodes(noisy=("a", "c"))
    init = {k: torch.zeros(()) for k in "abc"}
    law = EquilibriumDistribution("s", mechanisms, init, noise)
    obs = torch.randn(6, 2)
    # (a, c) = rows 0, 2 of (I - B)⁻¹ (mu + E u) with u = (u_a, u_c)
    inv = torch.linalg.inv(torch.eye(3) - B)
    E = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    M = (inv @ E)[[0, 2]]
    ref = dist.MultivariateNormal((inv @ MU)[[0, 2]], M @ torch.diag(SIGMA[[0, 2]] ** 2) @ M.T)
    assert torch.allclose(law.log_prob(obs), ref.log_prob(obs), atol=1e-12)
    values = law.node_values(obs)  # b solved given a, c
    assert torch.allclose(values["b"], -0.5 * obs[:, 1] - 1.0, atol=1e-12)


def numpy_tanh_log_prob(W, b, sigma, x):
    """Change of variables computed independently: u = x - tanh(Wx + b), J = diag(1-t²) W."""
    out = []
    for row in x:
        t = np.tanh(W @ row + b)
        u = row - t
        jac = (1 - t**2)[:, None] * W
        _, logdet = np.linalg.slogdet(np.eye(len(row)) - jac)
        log_pu = (
            -0.5 * np.sum((u / sigma) ** 2)
            - np.sum(np.log(sigma))
            - len(row) * 0.5 * np.log(2 * np.pi)
        )
        out.append(log_pu + logdet)
    return np.array(out)


def test_nonlinear_tanh_matches_independent_change_of_variables():
    gen = torch.Generator().manual_seed(1)
    W = 0.6 * torch.randn(4, 4, generator=gen)
    b, sigma = torch.randn(4, generator=gen), torch.tensor([0.3, 0.5, 1.0, 0.8])
    x = torch.randn(5, 4, generator=gen)
    law = EquilibriumDistribution(
        "tanh",
        {"x": lambda x: torch.tanh(x @ W.T + b)},
        {"x": torch.zeros(4)},
        {"x": dist.Normal(torch.zeros(4), sigma).to_event(1)},
    )
    ref = numpy_tanh_log_prob(W.numpy(), b.numpy(), sigma.numpy(), x.numpy())
    np.testing.assert_allclose(law.log_prob(x).numpy(), ref, atol=1e-12)


def test_log_prob_gradient_matches_finite_differences():
    W = (0.3 * torch.randn(3, 3)).requires_grad_(True)
    x = torch.randn(4, 3)

    def log_p(W):
        law = EquilibriumDistribution(
            "tanh",
            {"x": lambda x: torch.tanh(x @ W.T)},
            {"x": torch.zeros(3)},
            {"x": dist.Normal(torch.zeros(3), 0.7).to_event(1)},
        )
        return law.log_prob(x).sum()

    (grad,) = torch.autograd.grad(log_p(W), W)
    eps, fd = 1e-6, torch.zeros(3, 3)
    for i in range(3):
        for j in range(3):
            dW = torch.zeros(3, 3)
            dW[i, j] = eps
            fd[i, j] = (log_p(W.detach() + dW) - log_p(W.detach() - dW)) / (2 * eps)
    assert torch.allclose(grad, fd, atol=1e-7)


@pytest.mark.parametrize("batch", [(), (2,)])
def test_plates_and_masks(batch):
    mu = MU.expand(batch + (3,))
    x = torch.randn((4,) + batch + (3,))
    mask = torch.tensor([True, False, True, True]).reshape((4,) + (1,) * len(batch))

    def model():
        with pyro.plate("data", 4, dim=-1 - len(batch)), poutine.mask(mask=mask):
            return linear_model(mu=mu, obs=x)

    trace = poutine.trace(model).get_trace()
    trace.compute_log_prob()
    node = trace.nodes["x"]
    assert node["fn"].batch_shape == (4,) + batch
    expected = closed_form().log_prob(x) * mask
    assert torch.allclose(node["log_prob"], expected, atol=1e-12)


def test_predictive_samples_noisy_nodes():
    samples = pyro.infer.Predictive(linear_model, num_samples=50)()
    assert samples["x"].shape == (50, 3)
    assert bool(torch.isfinite(samples["x"]).all())


def test_scale_intervention_defines_the_density():
    alpha = torch.tensor(0.7)
    x = torch.randn(5, 3)
    with pce.do(actions={"x": pce.Scale(alpha)}):
        law = site(linear_model, "x", obs=x)["fn"]
    # x := alpha (B x + mu) + u  ->  x = (I - alpha B)⁻¹ (alpha mu + u)
    ref = closed_form(B=alpha * B, mu=alpha * MU)
    assert torch.allclose(law.log_prob(x), ref.log_prob(x), atol=1e-12)


def test_hard_intervention_removes_the_noise():
    mechanisms, noise = scalar_nodes()
    init = {k: torch.zeros(()) for k in "abc"}
    with pce.do(actions={"b": torch.tensor(2.0)}):
        trace = poutine.trace(pce.equilibrate).get_trace("s", mechanisms, init, noise=noise)
    law = trace.nodes["s"]["fn"]
    assert law.noisy == ["a", "c"] and float(trace.nodes["b"]["value"]) == 2.0


def test_partial_noise_scores_only_active_components():
    active = torch.tensor([True, False, True])
    c = torch.tensor(0.0)
    law = EquilibriumDistribution(
        "p",
        {"x": lambda x: torch.where(active, x @ B.T + MU, c)},
        {"x": torch.zeros(3)},
        {"x": PartialNoise(dist.Normal(torch.zeros(3), SIGMA), active)},
    )
    sample = law.sample((3,))
    assert torch.equal(sample[:, 1], torch.zeros(3))
    # the active block: x_A = B_AA x_A + mu_A + u_A (x_1 = 0)
    idx = [0, 2]
    inv = torch.linalg.inv(torch.eye(2) - B[idx][:, idx])
    ref = dist.MultivariateNormal(inv @ MU[idx], inv @ torch.diag(SIGMA[idx] ** 2) @ inv.T)
    assert torch.allclose(law.log_prob(sample), ref.log_prob(sample[:, idx]), atol=1e-12)


def test_hutchinson_estimates_the_exact_log_determinant():
    torch.manual_seed(0)
    W = 0.1 * torch.randn(6, 6)
    z = torch.randn(6)

    def f(z):
        return torch.tanh(z @ W.T)

    from pyro_causal_eq.internals.logdet import differentiable_jacobian, exact_logabsdet

    exact = exact_logabsdet(differentiable_jacobian(f, z))
    estimate = Hutchinson(terms=30, probes=4000)(f, z)
    assert abs(float((estimate - exact).detach())) < 0.01


def test_auto_logdet_refuses_large_systems(monkeypatch):
    import pyro_causal_eq.distributions.equilibrium as module

    monkeypatch.setattr(module, "EXACT_LOGDET_MAX_SIZE", 2)
    with pytest.raises(ValueError, match="Hutchinson"):
        linear_model()


def test_noise_on_unknown_node_is_an_error():
    with pytest.raises(KeyError, match="'y'.*not nodes of the system"):
        pce.equilibrate(
            "s",
            {"x": lambda x: 0.5 * x},
            init={"x": torch.zeros(())},
            noise={"y": dist.Normal(0.0, 1.0)},
        )


def test_noise_of_wrong_shape_is_an_error():
    with pytest.raises(ValueError, match="node 'x'.*shape"):
        pce.equilibrate(
            "s",
            {"x": lambda x: 0.5 * x},
            init={"x": torch.zeros(3)},
            noise={"x": dist.Normal(torch.zeros(2), 1.0).to_event(1)},
        )
    with pytest.raises(TypeError, match="pyro distribution"):
        pce.equilibrate(
            "s", {"x": lambda x: 0.5 * x}, init={"x": torch.zeros(())}, noise={"x": 1.0}
        )


def test_obs_of_a_node_without_noise_is_an_error():
    mechanisms, noise = scalar_nodes(noisy=("a",))
    with pytest.raises(KeyError, match="'b'.*no noise"):
        pce.equilibrate(
            "s",
            mechanisms,
            {k: torch.zeros(()) for k in "abc"},
            noise=noise,
            obs={"b": torch.tensor(1.0)},
        )


def test_conditioning_a_deterministic_node_is_an_error():
    def model():
        return pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0}, init={"x": torch.zeros(())})

    with pytest.raises(ValueError, match="'x' is deterministic.*noise=.*pce.do"):
        pyro.condition(model, data={"x": torch.tensor(1.0)})()


def test_conditioning_a_fixed_node_of_a_noisy_system_is_an_error():
    mechanisms, noise = scalar_nodes(noisy=("a",))
    init = {k: torch.zeros(()) for k in "abc"}
    with pytest.raises(ValueError, match="'b' is deterministic"):
        pyro.condition(
            lambda: pce.equilibrate("s", mechanisms, init, noise=noise),
            data={"b": torch.tensor(1.0)},
        )()


def test_causal_graph_of_a_noisy_model():
    mechanisms, noise = scalar_nodes(noisy=("a", "c"))
    init = {k: torch.zeros(()) for k in "abc"}
    graph = pce.causal_graph(lambda: pce.equilibrate("s", mechanisms, init, noise=noise))
    assert {("b", "a"), ("c", "b"), ("a", "c"), ("c", "c")} <= set(graph.edges)


def test_hutchinson_log_prob_through_equilibrate_is_close_to_exact():
    gen = torch.Generator().manual_seed(2)
    W = 0.1 * torch.randn(6, 6, generator=gen, dtype=F64)
    x = torch.randn(3, 6, generator=gen, dtype=F64)

    def model(logdet):
        return pce.equilibrate(
            "big",
            {"x": lambda x: torch.tanh(x @ W.T)},
            init={"x": torch.zeros(6)},
            noise={"x": dist.Normal(torch.zeros(6), 1.0).to_event(1)},
            obs={"x": x},
            logdet=logdet,
        )

    exact = site(model, "x", "exact")["fn"].log_prob(x)
    pyro.set_rng_seed(0)
    estimate = site(model, "x", Hutchinson(terms=30, probes=4000))["fn"].log_prob(x)
    assert torch.allclose(estimate.detach(), exact, atol=0.02)
    with pytest.raises(ValueError, match="logdet must be"):
        model("approximate")


def test_shift_on_a_noisy_node_acts_on_the_mechanism():
    delta = torch.tensor([0.5, 0.0, -1.0])
    x = torch.randn(4, 3)
    with pce.do(actions={"x": pce.Shift(delta)}):
        law = site(linear_model, "x", obs=x)["fn"]
    assert torch.allclose(law.log_prob(x), closed_form(mu=MU + delta).log_prob(x), atol=1e-12)


def test_conditioning_one_node_of_a_joint_noisy_site_says_how_to_condition():
    mechanisms, noise = scalar_nodes()
    init = {k: torch.zeros(()) for k in "abc"}
    with pytest.raises(ValueError, match="joint sample site 's'"):
        pyro.condition(
            lambda: pce.equilibrate("s", mechanisms, init, noise=noise),
            data={"a": torch.tensor(1.0)},
        )()
