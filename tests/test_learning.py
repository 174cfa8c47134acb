"""Learning cyclic SCMs from interventional data (pce.learning), and robust design."""

from __future__ import annotations

import pyro.distributions as dist
import pytest
import torch

from pyro_causal_eq.learning import CyclicSCM, Environment, auroc, fit, robust_design, shd

F64 = torch.float64
# a 4-cycle 0 <- 1 <- 2 <- 3 <- 0 plus a chord 2 <- 0 (row i: the parents of node i)
W_TRUE = torch.zeros(4, 4, dtype=F64)
W_TRUE[0, 1], W_TRUE[1, 2], W_TRUE[2, 3], W_TRUE[3, 0], W_TRUE[2, 0] = 0.6, -0.5, 0.5, 0.6, -0.4
B_TRUE = torch.tensor([0.5, -0.2, 0.1, 0.3], dtype=F64)
SIGMA = 0.5
ENVS = [Environment()] + [Environment((j,), "hard", 1.5) for j in range(4)]


def gaussian(W, b, sigma, free):
    """Closed form of the free block ``x_A = (I - W_AA)⁻¹ (b_A + W_AT c + u_A)`` (c = 1.5)."""
    fixed = [j for j in range(4) if j not in free]
    inv = torch.linalg.inv(torch.eye(len(free), dtype=F64) - W[free][:, free])
    mean = b[free] + W[free][:, fixed] @ torch.full((len(fixed),), 1.5, dtype=F64)
    return dist.MultivariateNormal(inv @ mean, sigma**2 * inv @ inv.T)


def test_linear_likelihood_matches_the_closed_form_gaussian():
    scm = CyclicSCM(4, "linear", sigma=SIGMA)
    params = {"W": W_TRUE, "b": B_TRUE}
    data = scm.simulate(params, ENVS, 50, seed=1)
    assert torch.equal(data[2][:, 1], torch.full((50,), 1.5, dtype=F64))
    log_liks = scm.log_likelihood(params, ENVS, data)
    for i, env in enumerate(ENVS):
        free = [j for j in range(4) if j not in env.targets]
        expected = gaussian(W_TRUE, B_TRUE, SIGMA, free).log_prob(data[i][:, free]).sum()
        assert torch.allclose(log_liks[i], expected, atol=1e-10)


def test_shift_and_scale_environments_match_the_closed_form():
    scm = CyclicSCM(4, "linear", sigma=SIGMA)
    envs = [Environment((1,), "shift", 2.0), Environment((2,), "scale", 1.5)]
    data = scm.simulate({"W": W_TRUE, "b": B_TRUE}, envs, 20, seed=2)
    log_liks = scm.log_likelihood({"W": W_TRUE, "b": B_TRUE}, envs, data)
    shift = torch.tensor([0.0, 2.0, 0.0, 0.0], dtype=F64)
    scale = torch.tensor([1.0, 1.0, 1.5, 1.0], dtype=F64)
    systems = [(W_TRUE, B_TRUE + shift), (scale[:, None] * W_TRUE, scale * B_TRUE)]
    for i, (W, b) in enumerate(systems):
        inv = torch.linalg.inv(torch.eye(4, dtype=F64) - W)
        ref = dist.MultivariateNormal(inv @ b, SIGMA**2 * inv @ inv.T)
        assert torch.allclose(log_liks[i], ref.log_prob(data[i]).sum(), atol=1e-10)


def test_map_recovers_the_generating_linear_cyclic_model():
    scm = CyclicSCM(4, "linear", sigma=SIGMA, w_scale=1.0)
    data = scm.simulate({"W": W_TRUE, "b": B_TRUE}, ENVS, 300, seed=3)
    result = fit(scm, ENVS, data, method="map", steps=120, lr=0.1)
    assert (result.point["W"] - W_TRUE).abs().max() < 0.1
    assert (result.point["b"] - B_TRUE).abs().max() < 0.1
    assert auroc(result.point["W"], W_TRUE) == 1.0 and shd(result.point["W"], W_TRUE) == 0
    # the learned likelihood is at least that of the truth, up to the prior's pull
    learned = sum(scm.log_likelihood(result.point, ENVS, data))
    truth = sum(scm.log_likelihood({"W": W_TRUE, "b": B_TRUE}, ENVS, data))
    assert learned > truth - 1.0


def test_map_learns_a_sparse_contractive_tanh_model():
    scm = CyclicSCM(4, "tanh", sigma=SIGMA, w_scale=0.1)
    data = scm.simulate({"W": W_TRUE, "b": B_TRUE}, ENVS, 300, seed=4)
    result = fit(scm, ENVS, data, method="map", steps=120, lr=0.1)
    W = result.point["W"]
    assert auroc(W, W_TRUE) == 1.0 and shd(W, W_TRUE, threshold=0.15) == 0
    assert (W - W_TRUE).abs().max() < 0.15


def test_svi_posterior_is_centred_on_the_truth():
    scm = CyclicSCM(4, "linear", sigma=SIGMA, w_scale=1.0)
    data = scm.simulate({"W": W_TRUE, "b": B_TRUE}, ENVS, 200, seed=5)
    result = fit(scm, ENVS, data, method="svi", steps=150, lr=0.1, num_samples=400)
    W = result.samples["W"]
    off = ~torch.eye(4, dtype=torch.bool)
    # every true weight within 4 posterior sds of the (mean-field) posterior mean
    z = ((W.mean(0) - W_TRUE) / W.std(0))[off]
    assert bool((z.abs() < 4).all())
    assert result.losses[-1] < result.losses[0]


def test_nuts_runs_on_a_small_cyclic_model():
    scm = CyclicSCM(2, "linear", sigma=SIGMA, w_scale=1.0)
    W = torch.tensor([[0.0, 0.5], [-0.4, 0.0]], dtype=F64)
    b = torch.tensor([0.3, -0.2], dtype=F64)
    envs = [Environment(), Environment((0,), "hard", 1.0), Environment((1,), "hard", 1.0)]
    data = scm.simulate({"W": W, "b": b}, envs, 100, seed=6)
    result = fit(scm, envs, data, method="nuts", num_samples=20, warmup_steps=20, max_tree_depth=3)
    draws = result.samples["W"]
    assert draws.shape == (20, 2, 2) and bool(torch.isfinite(draws).all())
    spread = draws.std(0) + 0.05
    assert bool(((result.point["W"] - W).abs() <= 4 * spread).all())


def test_design_on_the_true_model_matches_the_closed_form():
    scm = CyclicSCM(4, "linear", sigma=SIGMA)
    truth = {"W": W_TRUE, "b": B_TRUE}
    result = robust_design(
        scm, truth, target=0, goal=2.0, actuators=[1], cost=0.0, optimizer="lbfgs", steps=20
    )
    inv = torch.linalg.inv(torch.eye(4, dtype=F64) - W_TRUE)
    delta = (2.0 - (inv @ B_TRUE)[0]) / inv[0, 1]
    assert torch.allclose(result.shift, delta.reshape(1), atol=1e-6)
    assert torch.allclose(result.outcome, torch.tensor([2.0], dtype=F64), atol=1e-6)


def test_risk_averse_design_over_posterior_draws():
    gen = torch.Generator().manual_seed(0)
    draws = {
        "W": W_TRUE + 0.05 * torch.randn(40, 4, 4, dtype=F64, generator=gen) * (W_TRUE != 0),
        "b": B_TRUE + 0.05 * torch.randn(40, 4, dtype=F64, generator=gen),
    }
    scm = CyclicSCM(4, "linear", sigma=SIGMA)
    mean = robust_design(scm, draws, 0, 2.0, [1], cost=0.0, optimizer="lbfgs", steps=3)
    cvar = robust_design(
        scm, draws, 0, 2.0, [1], risk="cvar", alpha=0.8, cost=0.0, optimizer="lbfgs", steps=3
    )
    assert mean.outcome.shape == (40,)
    assert abs(float(mean.outcome.mean()) - 2.0) < 0.05

    def worst(result):
        return ((result.outcome - 2.0) ** 2).topk(8).values.mean()

    assert worst(cvar) <= worst(mean) + 1e-6
    assert list(mean.summary().index) == ["outcome", "effect"]


def test_environment_errors():
    with pytest.raises(ValueError, match="kind"):
        Environment((0,), "soft", 1.0)
    with pytest.raises(ValueError, match="targets"):
        Environment((), "hard", 1.0)
    with pytest.raises(ValueError, match="positive"):
        Environment((0,), "scale", -1.0)
    with pytest.raises(IndexError, match="out of range"):
        Environment((5,), "hard", 1.0).mask(3)
    scm = CyclicSCM(3)
    with pytest.raises(ValueError, match="expected"):
        scm.model([Environment()], [torch.zeros(4, 2)])
    other = torch.float32 if torch.get_default_dtype() == torch.float64 else torch.float64
    with pytest.raises(TypeError, match="default dtype"):
        fit(scm, [Environment()], [torch.zeros(4, 3, dtype=other)], steps=1)


def test_design_leaves_out_draws_without_an_attracting_equilibrium():
    scm = CyclicSCM(4, "linear", sigma=SIGMA)
    unstable = W_TRUE * 3.0  # spectral radius > 1
    draws = {"W": torch.stack([W_TRUE, unstable]), "b": torch.stack([B_TRUE, B_TRUE])}
    with pytest.warns(UserWarning, match="left out 1 draw"):
        result = robust_design(scm, draws, 0, 2.0, [1], cost=0.0, optimizer="lbfgs", steps=3)
    assert result.dropped == 1 and result.outcome.shape == (1,)
    with pytest.raises(ValueError, match="no draw"):
        robust_design(scm, {"W": unstable, "b": B_TRUE}, 0, 2.0, [1])
