"""TCR loss: against an independent numpy evaluation of the paper's formula (eq. 29, 9, 18),
population-level zero at the analytic solution, clear errors."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch

import pyro_causal_eq as pce
import pyro_causal_eq.simulators  # noqa: F401  (loads pce.simulators, pce.reduction)
from pyro_causal_eq import reduction
from pyro_causal_eq.reduction import InterventionalData, InterventionStatistics, TCRGuide, TCRLoss
from pyro_causal_eq.reduction.initialization import initialize


def numpy_loss(i, x, y, p, eta_h=0.0, eta_g=0.0, groups=None, quadrature=False, bias=True):
    """Paper eq. 29 with np.cov (empirical averages, ``bias=True``, as in App. E.1), explicit
    inverses; the mechanism expectation by Gauss-Hermite quadrature when ``quadrature`` (one
    cause) instead of the closed form."""
    T, W = p["tau"], p["omega"]
    n = T.shape[0]
    total = []
    for k in range(x.shape[0]):
        xs, ys = x[k], y[k]
        z = xs @ T.T
        mu_z, mu_y = z.mean(0), ys.mean()
        joint = np.cov(np.concatenate([z, ys[:, None]], 1).T, bias=bias).reshape(n + 1, n + 1)
        cov_z, c, var_y = joint[:n, :n], joint[:n, n], joint[n, n]
        loc = p["mu_z"] + W @ i[k]
        s2 = p["sigma_z"] ** 2
        cause = 0.5 * (
            np.sum(((loc - mu_z) ** 2 + np.diag(cov_z)) / s2)
            - np.log(np.linalg.det(cov_z) / np.prod(s2))
            - n
        )
        inv = np.linalg.inv(cov_z)
        v = var_y - c @ inv @ c
        sy2 = p["sigma_y"] ** 2

        def sq(zz):
            return (p["a"] @ zz + p["b"] - mu_y - c @ inv @ (zz - mu_z)) ** 2

        if quadrature:
            nodes, weights = np.polynomial.hermite_e.hermegauss(40)
            sd = np.sqrt(cov_z[0, 0])
            points = [np.array([mu_z[0] + sd * t]) for t in nodes]
            expected = sum(w * sq(pt) for pt, w in zip(points, weights, strict=True))
            expected /= np.sqrt(2 * np.pi)
        else:
            a_beta = p["a"] - inv @ c
            expected = (p["a"] @ mu_z + p["b"] - mu_y) ** 2 + a_beta @ cov_z @ a_beta
        mech = 0.5 * (expected / sy2 + v / sy2 - np.log(v / sy2) - 1)
        total.append(cause + mech)
    loss = np.mean(total)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)
    loss -= eta_h * np.sum(unit(T) * unit(W))
    if groups is not None:
        gs = 0.0
        for t in T:
            norms = [np.linalg.norm(t[g]) for g in groups]
            gs += sum(norms) ** 2 / sum(nm**2 for nm in norms)
        loss += eta_g * (gs - n)
    return loss


def random_data(n_int, n_samp, n_low, seed=0):
    gen = torch.Generator().manual_seed(seed)
    i = torch.randn(n_int, n_low, generator=gen)
    mix = torch.randn(n_low, n_low, generator=gen)
    x = torch.randn(n_int, n_samp, n_low, generator=gen) @ mix + i.unsqueeze(1)
    y = x.sum(-1) + 0.5 * torch.randn(n_int, n_samp, generator=gen) ** 3
    return InterventionalData(i, x, y)


@pytest.mark.parametrize("n_causes", [1, 2, 3])
@pytest.mark.parametrize("eta_h,eta_g", [(0.0, 0.0), (0.7, 0.0), (0.5, 1.3)])
def test_loss_matches_numpy(n_causes, eta_h, eta_g):
    data = random_data(7, 9, 5)
    groups = [[0, 1], [2, 3, 4]]
    guide = TCRGuide(5, n_causes=n_causes, init="none")
    with torch.no_grad():
        guide.a_unconstrained.copy_(torch.randn(n_causes))
        guide.b_unconstrained.copy_(torch.tensor(0.3))
        guide.sigma_z_unconstrained.copy_(torch.randn(n_causes) * 0.3)
    loss = TCRLoss(eta_h=eta_h, eta_g=eta_g, groups=groups if eta_g else None, jitter=0.0)
    value = loss(reduction.data_model, guide, data)
    p = {k: v.detach().numpy() for k, v in guide().items()}
    expected = numpy_loss(
        data.interventions.numpy(),
        data.x.numpy(),
        data.y.numpy(),
        p,
        eta_h,
        eta_g,
        groups if eta_g else None,
    )
    assert value.item() == pytest.approx(expected, rel=1e-10)
    value.backward()  # differentiable


def test_mechanism_expectation_by_quadrature():
    data = random_data(4, 12, 3, seed=3)
    guide = TCRGuide(3, init="none")
    value = TCRLoss(jitter=0.0)(data, guide)
    p = {k: v.detach().numpy() for k, v in guide().items()}
    expected = numpy_loss(
        data.interventions.numpy(), data.x.numpy(), data.y.numpy(), p, quadrature=True
    )
    assert value.item() == pytest.approx(expected, rel=1e-9)


def test_covariance_kept_as_samples_when_wide():
    data = random_data(5, 4, 6)
    narrow = InterventionStatistics.from_samples(data.interventions, data.x, data.y, False)
    wide = data.statistics()
    assert wide.cov_x is None and wide.centered_x is not None
    guide = TCRGuide(6, n_causes=2, init="none")
    assert TCRLoss()(wide, guide).item() == pytest.approx(TCRLoss()(narrow, guide).item())


def population_statistics(scm, interventions):
    A = scm.A
    inv = torch.linalg.inv(torch.eye(scm.n_nodes) - A)
    mean_x = (scm.noise_loc + interventions) @ inv.T
    cov = inv @ torch.diag(scm.noise_scale**2) @ inv.T
    n_int = interventions.shape[0]
    return InterventionStatistics(
        interventions=interventions,
        mean_x=mean_x,
        mean_y=mean_x @ scm.tau0,
        var_y=(scm.tau0 @ cov @ scm.tau0).expand(n_int),
        cov_xy=(cov @ scm.tau0).expand(n_int, -1),
        cov_x=cov.expand(n_int, -1, -1),
        centered_x=None,
        n_samples=10**6,
    )


@pytest.mark.parametrize("kind", ["random", "chain", "star"])
def test_analytic_solution_has_zero_population_loss(kind):
    scm = getattr(pce.simulators.LinearGaussianSCM, kind)(6, seed=2, noise_loc=0.3)
    stats = population_statistics(scm, scm.sample_interventions(50))
    tau, omega = scm.solution()
    guide = TCRGuide(6, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask, init="none")
    with torch.no_grad():
        guide.tau_unconstrained.copy_(2.5 * tau)
    initialize(guide, stats, "profile")  # nuisance parameters in closed form
    assert float(reduction.abs_cosine(guide.W[0].detach(), omega)) == pytest.approx(1.0, abs=1e-12)
    assert TCRLoss(jitter=0.0)(stats, guide).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():  # any other reduction is inconsistent
        guide.tau_unconstrained.add_(0.2 * torch.randn(6))
    initialize(guide, stats, "profile")
    assert TCRLoss(jitter=0.0)(stats, guide).item() > 1e-4


def test_too_few_samples_is_a_clear_error():
    data = random_data(3, 3, 4)
    with pytest.raises(ValueError, match="too few samples"):
        TCRLoss()(reduction.data_model, TCRGuide(4, n_causes=2, init="none"), data)
    one = random_data(3, 1, 4)
    with pytest.raises(ValueError, match="at least 2 samples"):
        TCRLoss()(reduction.data_model, TCRGuide(4, name="single"), one)


def test_tau_reading_the_target_is_a_clear_error():
    data = random_data(3, 10, 4)
    shifts = data.interventions.clone()
    shifts[:, 0] = 0  # the target X0 is not shifted: the singular covariance is the problem
    data = InterventionalData(shifts, data.x, data.x[..., 0])
    guide = TCRGuide(4, tau_mask=[True, False, False, False], init="none")
    with pytest.raises(ValueError, match="singular"):
        TCRLoss(jitter=0.0)(data, guide)


def test_other_errors():
    data = random_data(3, 10, 4)
    with pytest.raises(ValueError, match="groups"):
        TCRLoss(eta_g=1.0)
    pyro.clear_param_store()
    with pytest.raises(ValueError, match="same shape"):
        narrow = InterventionalData(data.interventions[:, :3], data.x, data.y)
        TCRLoss(eta_h=1.0)(narrow, TCRGuide(4, n_interventions=3, init="none"))
    pyro.clear_param_store()
    TCRGuide(4)
    with pytest.raises(ValueError, match="param store already holds"):
        TCRGuide(5)
    with pytest.raises(ValueError, match="shape mismatch"):
        TCRLoss()(data, TCRGuide(5, init="none", name="other"))
    with pytest.raises(KeyError, match="site"):
        TCRLoss()(lambda: None, TCRGuide(4, name="g1"))
    with pytest.raises(ValueError, match="tau_mask"):
        TCRGuide(4, tau_mask=[True, False], name="g2")
    with pytest.raises(ValueError, match="without any allowed"):
        TCRGuide(2, tau_mask=[False, False], name="g3")
    bad = data.x.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        TCRLoss()(InterventionalData(data.interventions, bad, data.y), TCRGuide(4, name="g4"))


def test_regularizers_are_scale_invariant():
    tau = torch.randn(2, 6)
    omega = torch.randn(2, 6)
    groups = reduction.loss.group_matrix([[0, 1, 2], [3, 4, 5]], 6)
    assert reduction.homogeneity(3 * tau, 0.5 * omega).item() == pytest.approx(
        reduction.homogeneity(tau, omega).item()
    )
    assert reduction.group_sparsity(7 * tau, groups).item() == pytest.approx(
        reduction.group_sparsity(tau, groups).item()
    )
    one_group = torch.tensor([[1.0, 2.0, 0.0, 0.0, 0.0, 0.0]])
    assert reduction.group_sparsity(one_group, groups).item() == pytest.approx(0.0, abs=1e-12)
    pyro.clear_param_store()


def test_guide_target_argument():
    data = random_data(4, 10, 4)
    guide = TCRGuide(4, target=3, init="none")
    assert guide.tau_mask.tolist() == [[True, True, True, False]]
    with pytest.raises(ValueError, match="target must not be intervened"):
        TCRLoss()(data, guide)  # random_data shifts every variable, the target included
    with pytest.raises(ValueError, match="read the target"):
        TCRGuide(4, target=3, tau_mask=[True] * 4, name="t2")
    with pytest.raises(ValueError, match="target must not be intervened"):
        TCRGuide(4, target=torch.tensor([0, 0, 0.5, 1.0]), omega_mask=[True] * 4, name="t3")
    shifted = data.interventions.clone()
    shifted[:, 3] = 0
    ok = InterventionalData(shifted, data.x, data.y)
    guide4 = TCRGuide(4, target=3, omega_mask=[True, True, True, False], name="t4")
    assert torch.isfinite(TCRLoss()(ok, guide4))


def test_unbiased_covariance_option():
    """Default: the paper's empirical averages (1 / S); unbiased=True: np.cov's 1 / (S - 1)."""
    data = random_data(3, 6, 3)
    guide = TCRGuide(3, init="none")
    p = {k: v.detach().numpy() for k, v in guide().items()}
    args = data.interventions.numpy(), data.x.numpy(), data.y.numpy(), p
    biased = TCRLoss(jitter=0.0)(data, guide).item()
    unbiased = TCRLoss(unbiased=True, jitter=0.0)(data, guide).item()
    assert biased == pytest.approx(numpy_loss(*args, bias=True), rel=1e-10)
    assert unbiased == pytest.approx(numpy_loss(*args, bias=False), rel=1e-10)
    assert abs(biased - unbiased) > 1e-3


@pytest.mark.parametrize("target", [4, [0, 0, 0, 0.5, 1.0]])
def test_data_shifting_the_target_is_a_clear_error(target):
    """The user's own simulation shifts the target: detected from the data alone (Y is an exact
    linear function of X), through plain SVI, without TCRGuide(target=...)."""
    scm = pce.simulators.LinearGaussianSCM.chain(5, seed=0, target=target, intervened=[0, 1, 2])
    shifts = torch.randn(40, 5)
    shifts[:, 4] = 0 if isinstance(target, list) else shifts[:, 4]
    data = scm.simulate(40, 16, seed=0, interventions=shifts)
    guide = TCRGuide(5, tau_mask=[True, True, True, True, False])
    svi = pyro.infer.SVI(reduction.data_model, guide, pyro.optim.Adam({"lr": 0.01}), loss=TCRLoss())
    with pytest.raises(ValueError, match="target must not be intervened.*variable"):
        svi.step(data)
    ok = scm.simulate(40, 16, seed=0)  # the declared intervened set: fine
    assert np.isfinite(svi.step(ok))
