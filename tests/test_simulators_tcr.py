"""TCR simulators: moments against closed forms, ODE paths against scipy, exact reductions."""

from __future__ import annotations

import numpy as np
import pyro
import pytest
import torch
from scipy.integrate import solve_ivp

import pyro_causal_eq as pce
import pyro_causal_eq.simulators  # noqa: F401
from pyro_causal_eq import reduction
from pyro_causal_eq.reduction import TCRGuide, abs_cosine, fit
from pyro_causal_eq.simulators import DoubleWell, LeontiefEconomy, LinearGaussianSCM, PointMasses


def test_linear_gaussian_moments_match_closed_form():
    scm = LinearGaussianSCM.random(4, seed=0, noise_loc=[0.5, -1, 0, 2], noise_scale=0.7)
    shifts = torch.tensor([[1.0, -2.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    data = scm.simulate(2, 50_000, seed=0, interventions=shifts)
    inv = torch.linalg.inv(torch.eye(4) - scm.A)
    mean = (scm.noise_loc + shifts) @ inv.T
    cov = 0.49 * inv @ inv.T
    torch.testing.assert_close(data.x.mean(1), mean, atol=0.04, rtol=0)
    torch.testing.assert_close(torch.cov(data.x[0].T), cov, atol=0.05, rtol=0)
    torch.testing.assert_close(data.y, data.x[..., 3])


def test_linear_gaussian_uses_do_shift_on_sample_sites():
    scm = LinearGaussianSCM.chain(3, seed=0)
    shift = torch.tensor([[2.0]])
    with pyro.plate("i", 1, dim=-2), pyro.plate("s", 5, dim=-1):
        trace = pyro.poutine.trace(pce.do(scm.model, actions={"X0": pce.Shift(shift)})).get_trace()
    fn = trace.nodes["X0"]["fn"]
    assert isinstance(fn, torch.distributions.TransformedDistribution)
    value = torch.linspace(-1, 3, 5).expand(1, 5)
    expected = torch.distributions.Normal(2.0, 1.0).log_prob(value)
    torch.testing.assert_close(fn.log_prob(value), expected)


def test_linear_gaussian_data_is_seeded_and_reusable():
    scm = LinearGaussianSCM.star(5, seed=1)
    first, second = scm.simulate(10, 4, seed=3), scm.simulate(10, 4, seed=3)
    torch.testing.assert_close(first.x, second.x)
    assert not torch.equal(first.x, scm.simulate(10, 4, seed=4).x)
    assert bool((first.interventions[:, 4] == 0).all())  # target not intervened


def test_double_well_matches_scipy_without_noise():
    well = DoubleWell(v0=3.0, noise_scale=1e-12, n_points=21, t_end=8.0, substeps=20)
    shifts = torch.zeros(1, well.n_low)
    shifts[0, well.n_points + 5] = 0.3  # one velocity shift at t_5
    data = well.simulate(1, 2, seed=0, interventions=shifts)
    step = well.t_end / (well.n_points - 1)
    rhs = lambda t, s: [s[1], -(well.friction * s[1] + 4 * s[0] ** 3 - 8 * s[0])]
    state = [float(data.x[0, 0, 0]), well.v0]
    positions, velocities = [state[0]], [state[1]]
    for j in range(1, well.n_points):
        state = solve_ivp(rhs, (0, step), state, rtol=1e-11, atol=1e-12).y[:, -1]
        state[1] += 0.3 if j == 5 else 0.0
        positions.append(state[0])
        velocities.append(state[1])
    expected = torch.tensor(positions + velocities)
    torch.testing.assert_close(data.x[0, 0], expected, atol=1e-5, rtol=0)


def test_double_well_reaches_both_wells_and_fits():
    well = DoubleWell()
    data = well.simulate(60, 16, seed=0)
    assert data.x.shape == (60, 16, 202)
    right = float((data.y > 0).double().mean())
    assert 0.1 < right < 0.9
    guide = TCRGuide(well.n_low, tau_mask=well.tau_mask, omega_mask=well.omega_mask)
    result = fit(data, guide, steps=30)
    assert torch.isfinite(result.tau).all() and result.losses[-1] < result.losses[0]


def test_point_masses_euler_scheme_momentum():
    """Total momentum obeys P[n+1] = ρ P[n] + Δt Σ_k f_k(n) exactly (springs cancel)."""
    system = PointMasses(n_masses=3, n_steps=6, n_forced=4, noise_scale=1e-9)
    forces = torch.randn(1, system.n_low)
    data = system.simulate(1, 3, seed=0, interventions=forces)
    v = data.x[0].reshape(3, system.n_forced, 3, 2)
    momentum = (system.masses[:, None] * v).sum(-2)  # (S, n_forced, 2)
    f = forces.reshape(system.n_forced, 3, 2).sum(-2)
    rho = 1 - system.dt * system.friction
    torch.testing.assert_close(
        momentum[:, 1:], rho * momentum[:, :-1] + system.dt * f[1:], atol=1e-7, rtol=0
    )


def test_point_masses_exact_reduction_is_learned():
    system = PointMasses()
    data = system.simulate(1000, 32, seed=0)
    guide = TCRGuide(system.n_low, system.n_low)
    result = fit(data, guide)
    tau, omega = system.exact_reduction()
    assert abs_cosine(result.tau[0], tau) > 0.999
    assert abs_cosine(result.omega[0], omega) > 0.999


def test_leontief_equilibrium_and_reduction():
    gen = torch.Generator().manual_seed(0)
    A = torch.rand(4, 4, generator=gen) * 0.2
    r = torch.rand(4, generator=gen)
    economy = LeontiefEconomy(A, r)
    data = economy.simulate(300, 32, seed=0)
    y, x = data.x[..., :4], data.x[..., 4:]
    torch.testing.assert_close(x, torch.linalg.solve(torch.eye(4) - A, y.unsqueeze(-1))[..., 0])
    tau, omega = economy.solution()
    expected = np.linalg.solve((np.eye(4) - A.numpy()).T, r.numpy())
    np.testing.assert_allclose(tau[:4].numpy(), expected, rtol=1e-12)
    guide = TCRGuide(8, tau_mask=economy.tau_mask, omega_mask=economy.omega_mask)
    result = fit(data, guide)
    assert abs_cosine(result.tau[0], tau) > 0.999
    assert abs_cosine(result.omega[0], omega) > 0.999
    with pytest.raises(ValueError, match="spectral radius"):
        LeontiefEconomy(torch.eye(2), torch.ones(2))
    with pytest.raises(ValueError, match="emission_noise must be positive"):
        LeontiefEconomy(A, r, emission_noise=0.0)


def test_abs_cosine_used_by_reduction_namespace():
    assert reduction.abs_cosine is abs_cosine


def test_fit_of_a_simulator_uses_its_masks_and_seed():
    scm = LinearGaussianSCM.star(5, seed=2)
    pyro.clear_param_store()
    first = fit(scm, n_interventions=200, n_samples=16, seed=4)
    assert bool((first.guide.tau_mask == scm.tau_mask).all())
    assert first.data.n_interventions == 200 and first.data.n_samples == 16
    torch.testing.assert_close(first.data.x, scm.simulate(200, 16, seed=4).x)
    tau, omega = scm.solution()
    assert abs_cosine(first.tau[0], tau) > 0.99 and abs_cosine(first.omega[0], omega) > 0.99


def test_fit_bad_inputs_are_clear_errors():
    pyro.clear_param_store()
    scm = LinearGaussianSCM.chain(4, seed=0)
    data = scm.simulate(50, 8, seed=0)
    with pytest.raises(TypeError, match="simulates its data set: give no args"):
        fit(scm, args=(data,))
    with pytest.raises(TypeError, match="reads the data set: give no args"):
        fit(data, args=(data,))
    with pytest.raises(TypeError, match="expects a simulator, an InterventionalData"):
        fit(42)
    with pytest.raises(ValueError, match="optimizer must be"):
        fit(data, optimizer="sgd")
