"""TCR fitting: SVI integration, agreement with the analytic solution (Prop. 3.3), several
causes with group sparsity, homogeneity, param store save / load."""

from __future__ import annotations

import numpy as np
import pyro
import pyro.optim
import pytest
import torch
from pyro.infer import SVI

import pyro_causal_eq.simulators  # noqa: F401  (loads pce.simulators, pce.reduction)
from pyro_causal_eq import reduction
from pyro_causal_eq.reduction import TCRGuide, TCRLoss, abs_cosine, data_model, fit
from pyro_causal_eq.simulators import LinearGaussianSCM


def numpy_solution(A, tau0, intervened):
    """Prop. 3.3 by explicit numpy inverses on permuted blocks."""
    A, tau0 = np.asarray(A), np.asarray(tau0)
    one = np.asarray(sorted(intervened))
    zero = np.setdiff1d(np.arange(len(tau0)), one)
    tau1 = A[np.ix_(zero, one)].T @ np.linalg.inv(np.eye(len(zero)) - A[np.ix_(zero, zero)]).T
    tau1 = tau1 @ tau0[zero]
    omega1 = np.linalg.inv(np.eye(len(one)) - A[np.ix_(one, one)]).T @ tau1
    tau, omega = np.zeros(len(tau0)), np.zeros(len(tau0))
    tau[one], omega[one] = tau1, omega1
    return tau, omega


def test_analytic_solution_matches_numpy():
    gen = torch.Generator().manual_seed(4)
    A = torch.tril(torch.rand(7, 7, generator=gen) * 2 - 1, -1)
    A[:, 5:] = 0  # the last two variables are sinks: the target block
    tau0 = torch.tensor([0, 0, 0, 0, 0, 0.7, -1.3])
    tau, omega = reduction.linear_gaussian_solution(A, tau0, [0, 1, 2, 3, 4])
    expected = numpy_solution(A.numpy(), tau0.numpy(), [0, 1, 2, 3, 4])
    np.testing.assert_allclose(tau.numpy(), expected[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(omega.numpy(), expected[1], rtol=1e-12, atol=1e-14)


def test_analytic_solution_errors():
    A = torch.diag(torch.ones(3), -1)[:3, :3] * 0.5
    with pytest.raises(ValueError, match="target must not be intervened"):
        reduction.linear_gaussian_solution(A, torch.tensor([0, 0, 1.0]), [1, 2])
    with pytest.raises(ValueError, match="no edge from an unintervened"):
        reduction.linear_gaussian_solution(A, torch.tensor([0, 0, 1.0]), [1])
    with pytest.raises(ValueError, match="target must not be intervened"):
        LinearGaussianSCM(A, target=2, intervened=[0, 2])
    with pytest.raises(ValueError, match="acyclic"):
        LinearGaussianSCM(torch.tensor([[0, 0.5], [0.5, 0]]))
    with pytest.raises(ValueError, match="zero vector"):
        abs_cosine(torch.zeros(3), torch.ones(3))


def test_abs_cosine_is_sign_safe():
    u = torch.randn(5)
    assert abs_cosine(u, -3 * u).item() == pytest.approx(1.0)
    assert abs_cosine(torch.tensor([1.0, 0]), torch.tensor([0, 2.0])).item() == 0.0


def test_svi_step_updates_guide_params():
    scm = LinearGaussianSCM.random(5, seed=0)
    data = scm.simulate(300, 16, seed=0)
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask, init="none")
    before = {k: v.detach().clone() for k, v in guide().items()}
    svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 0.05}), loss=TCRLoss())
    losses = [svi.step(data) for _ in range(30)]
    after = guide()
    for key in ("tau", "omega", "mu_z", "sigma_z", "a", "b", "sigma_y"):
        assert not torch.equal(before[key], after[key].detach()), key
    assert losses[-1] < losses[0]
    assert svi.evaluate_loss(data) == pytest.approx(TCRLoss().loss(data, guide))


def test_svi_adam_reaches_the_analytic_solution():
    scm = LinearGaussianSCM.random(6, seed=1)
    data = scm.simulate(1000, 32, seed=0)
    guide = TCRGuide(6, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask, init="profile")
    svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 0.01}), loss=TCRLoss())
    for _ in range(800):
        svi.step(data)
    tau, omega = scm.solution()
    assert abs_cosine(guide.T[0].detach(), tau) > 0.999
    assert abs_cosine(guide.W[0].detach(), omega) > 0.999


@pytest.mark.parametrize("kind", ["random", "chain", "star"])
def test_fit_matches_analytic(kind):
    scm = getattr(LinearGaussianSCM, kind)(8, seed=3)
    data = scm.simulate(2000, 32, seed=1)
    guide = TCRGuide(8, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    result = fit(data_model, guide, args=(data,))  # the Pyro-model spelling
    tau, omega = scm.solution()
    assert result.converged
    assert abs_cosine(result.tau[0], tau) > 0.999
    assert abs_cosine(result.omega[0], omega) > 0.999


def test_fit_general_target_and_intervened_subset():
    gen = torch.Generator().manual_seed(7)
    A = torch.tril(torch.rand(7, 7, generator=gen) * 2 - 1, -1)
    A[:, 5:] = 0
    A[5, :5] = 0
    A[5, 2], A[5, 4] = 0.8, -0.6  # X5 has parents 2 and 4 only
    A[:4, 4] = 0  # X4 unintervened with no intervened children ... keeps Prop 3.3 valid
    tau0 = torch.tensor([0, 0, 0, 0, 0, 1.0, 0.5])
    scm = LinearGaussianSCM(A, target=tau0, intervened=[0, 1, 2, 3])
    data = scm.simulate(2000, 32, seed=2)
    guide = TCRGuide(7, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask, init="none")
    result = fit(data, guide, init="profile")
    tau, omega = scm.solution()
    assert abs_cosine(result.tau[0], tau) > 0.999
    assert abs_cosine(result.omega[0], omega) > 0.999


def test_two_causes_with_group_sparsity_split_the_branches():
    scm = LinearGaussianSCM.two_branch(seed=0)
    data = scm.simulate(2000, 32, seed=0)
    guide = TCRGuide(10, n_causes=2, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    result = fit(data, guide, loss=TCRLoss(eta_g=1.0, groups=scm.groups))
    first, second = scm.groups
    share = (result.tau[:, first] ** 2).sum(-1) / (result.tau**2).sum(-1)
    assert sorted(share.tolist()) == pytest.approx([0.0, 1.0], abs=1e-3)
    # each cause matches the one-cause analytic solution of its branch (other branch fixed)
    k = int(share.argmax())
    A = scm.A.clone()
    tau, _ = reduction.linear_gaussian_solution(A, scm.tau0, scm.intervened)
    branch_tau = torch.zeros(10)
    branch_tau[first] = tau[first]
    assert abs_cosine(result.tau[k], branch_tau) > 0.99


def test_homogeneity_makes_tau_and_omega_congruent():
    scm = LinearGaussianSCM.chain(8, seed=0)
    data = scm.simulate(1000, 32, seed=0)
    cosines = []
    for name, eta_h in (("plain", 0.0), ("hom", 1.0)):
        guide = TCRGuide(8, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask, name=name)
        result = fit(data, guide, loss=TCRLoss(eta_h=eta_h))
        cosines.append(float(abs_cosine(result.tau[0], result.omega[0])))
    assert cosines[1] > 0.95 and cosines[1] > cosines[0] + 0.1, cosines


def test_param_store_save_and_load(tmp_path):
    scm = LinearGaussianSCM.random(5, seed=0)
    data = scm.simulate(300, 16, seed=0)
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    fit(data, guide, steps=50)
    saved = {k: v.detach().clone() for k, v in guide().items()}
    path = tmp_path / "tcr.pt"
    pyro.get_param_store().save(path)
    pyro.clear_param_store()
    pyro.get_param_store().load(path)
    restored = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    assert restored.initialized  # loaded parameters are not re-initialized
    TCRLoss()(data_model, restored, data)
    for key, value in restored().items():
        torch.testing.assert_close(value.detach(), saved[key])


def test_svi_with_tensor_arguments():
    scm = LinearGaussianSCM.random(4, seed=5)
    data = scm.simulate(100, 8, seed=0)
    guide = TCRGuide(4, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 0.01}), loss=TCRLoss())
    value = svi.step(data.interventions, data.x, data.y)
    assert value == pytest.approx(TCRLoss().loss(data, guide), rel=0.05)
    with pytest.raises(TypeError, match="InterventionalData"):
        data_model(data.x)


def test_reproduction_script_small(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "reproduce_tcr_figures.py"
    spec = importlib.util.spec_from_file_location("reproduce_tcr_figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--small", "--figure", "4", "9", "--out", str(tmp_path)])
    fig4 = summary["fig4"]
    assert fig4["eta_h=1"]["cos(tau, omega)"] > fig4["eta_h=0"]["cos(tau, omega)"]
    assert summary["fig9"]["share of cause k on branch 1"] == pytest.approx([1.0, 0.0], abs=0.05)
    assert (tmp_path / "fig9_two_branch.png").exists()


def test_simulating_model_protocol():
    """The paper's protocol: a fresh batch of interventions at every step."""
    scm = LinearGaussianSCM.random(5, seed=0)
    model = scm.simulating_model(n_interventions=64, n_samples=16)
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01}), loss=TCRLoss())
    for _ in range(5):
        svi.step()
    assert torch.isfinite(guide.T).all()


def test_loss_evaluation_has_no_side_effect_and_svi_initializes():
    scm = LinearGaussianSCM.random(5, seed=2)
    data = scm.simulate(400, 16, seed=0)
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    before = {k: v.detach().clone() for k, v in guide().items()}
    TCRLoss()(data_model, guide, data)
    for key, value in guide().items():
        assert torch.equal(value.detach(), before[key])
    svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=TCRLoss())
    svi.step(data)  # first step: data-driven init (regression), then one Adam step
    tau, _ = scm.solution()
    assert abs_cosine(guide.T[0].detach(), tau) > 0.99
    assert guide.initialized


def test_user_set_parameters_are_not_reinitialized():
    scm = LinearGaussianSCM.random(5, seed=2)
    data = scm.simulate(100, 16, seed=0)
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    custom = torch.arange(5.0).unsqueeze(0)
    pyro.get_param_store()["tcr.tau"] = custom
    svi = SVI(data_model, guide, pyro.optim.SGD({"lr": 0.0}), loss=TCRLoss())
    svi.step(data)
    torch.testing.assert_close(guide.tau.detach(), custom)


def test_fit_with_adam_and_errors():
    scm = LinearGaussianSCM.random(5, seed=3)
    data = scm.simulate(500, 16, seed=0)
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    result = fit(data, guide, optimizer="adam", steps=300, lr=0.01, init="profile")
    tau, omega = scm.solution()
    assert result.steps <= 300 and len(result.losses) == result.steps
    assert abs_cosine(result.tau[0], tau) > 0.99
    with pytest.raises(ValueError, match="full-batch"):
        fit(data, guide, loss=TCRLoss(batch_size=10))
    with pytest.raises(ValueError, match="optimizer"):
        fit(data, guide, optimizer="sgd")


def test_float32_data_with_float64_guide():
    scm = LinearGaussianSCM.random(5, seed=0)
    data = scm.simulate(300, 16, seed=0)
    data32 = reduction.InterventionalData(
        data.interventions.float(), data.x.float(), data.y.float()
    )
    guide = TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    result = fit(data32, guide)
    assert result.tau.dtype == torch.float64
    assert abs_cosine(result.tau[0], scm.solution()[0]) > 0.999


def test_plain_svi_from_default_init_general_target_subset_and_size():
    """Outside-check protocol: SVI + Adam from the default init on a graph of another size, a
    vector target and a chosen intervened set."""
    gen = torch.Generator().manual_seed(11)
    A = torch.tril(torch.rand(9, 9, generator=gen) * 2 - 1, -1)
    A[:6, 6:] = 0  # no edge from the unintervened block {6, 7, 8} into the intervened one
    tau0 = torch.tensor([0, 0, 0, 0, 0, 0, 0.0, 1.0, -0.5])
    scm = LinearGaussianSCM(A, target=tau0, intervened=[0, 1, 2, 3, 4, 5])
    data = scm.simulate(1000, 32, seed=3)
    guide = TCRGuide(9, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=TCRLoss())
    for _ in range(100):
        svi.step(data)
    tau, omega = reduction.linear_gaussian_solution(A, tau0, [0, 1, 2, 3, 4, 5])
    assert abs_cosine(guide.T[0].detach(), tau) > 0.999
    assert abs_cosine(guide.W[0].detach(), omega) > 0.999


def test_two_causes_without_groups_by_svi():
    """n = 2 without groups: the effective cause aᵀZ matches Prop. 3.3 (aᵀT ∝ τ̄, aᵀW ∝ ω̄)
    after a short SVI run from the default init (the first cause starts at the regression)."""
    scm = LinearGaussianSCM.random(7, seed=4)
    data = scm.simulate(1000, 32, seed=0)
    guide = TCRGuide(7, n_causes=2, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=TCRLoss())
    for _ in range(100):
        svi.step(data)
    tau, omega = scm.solution()
    a = guide.a.detach()
    assert abs_cosine(a @ guide.T.detach(), tau) > 0.999
    assert abs_cosine(a @ guide.W.detach(), omega) > 0.995  # the random 2nd cause adds noise


def test_fit_stops_on_the_relative_loss_change():
    """Past the optimum, L-BFGS crawls along nearly flat directions (the loss changes by
    ~1e-9 relative per window without moving τ, ω): the relative-loss criterion stops it."""
    scm = LinearGaussianSCM.random(20, seed=1)
    data = scm.simulate(500, 32, seed=0)
    guide = TCRGuide(20, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    result = fit(data, guide, steps=400)
    assert result.converged and result.steps < 400  # took > 1,000 iterations with tol=1e-12
    assert abs_cosine(result.tau[0], scm.solution()[0]) > 0.999
    loose = fit(data, guide, init="profile", steps=400, tol=1e-3)
    assert loose.converged and loose.steps <= 50
