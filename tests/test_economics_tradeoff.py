"""Trade-off design: the exact solver against independent optimizers, the gradient paths, the
dataset, outputs and uncertainty propagation."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
import xarray as xr
from scipy.optimize import differential_evolution, minimize
from test_economics_fixtures import small_table

from pyro_causal_eq import EquilibriumError
from pyro_causal_eq.economics import IOModel, TradeoffObjective, tradeoff
from pyro_causal_eq.economics.outputs import (
    chosen_lambda,
    pareto_plot,
    sector_table,
    write_csv,
    write_netcdf,
)
from pyro_causal_eq.economics.uncertainty import (
    hdi_plot,
    propagate_uncertainty,
    uncertainty_summary,
)
from pyro_causal_eq.economics.validation import spectral_radius as radius

matplotlib.use("Agg")


def make_io(n=3, seed=0, negative_demand=False):
    A, y, D = small_table(n, seed=seed, negative_demand=negative_demand)
    return IOModel(A, y, D, indicators=["GHG", "JOBS", "VADD"])


def independent_minimum(io, lam, penalty="l1", target="assignment", bounds=(0.0, 2.0)):
    """Global search (differential evolution + Nelder-Mead polish) on the closed form."""
    objective = TradeoffObjective(io, "GHG", "JOBS", penalty)

    def f(alpha):
        return objective.value(io.equilibrium(alpha, target), lam)

    box = [bounds] * io.n
    result = differential_evolution(
        f, box, seed=1, tol=1e-13, maxiter=3000, popsize=40, polish=False
    )
    polished = minimize(
        f,
        result.x,
        method="Nelder-Mead",
        bounds=box,
        options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000},
    )
    return min(result.fun, polished.fun)


def lambda_grid(io, penalty="l1"):
    return TradeoffObjective(io, "GHG", "JOBS", penalty).default_lambdas(4)


@pytest.mark.parametrize(
    "penalty, negative_demand, branches",
    [("l1", False, "local"), ("relative", False, "local"), ("l1", True, "local"),
     ("l1", True, "milp"), ("relative", True, "bound")],
)  # fmt: skip
def test_exact_matches_independent_optimizer(penalty, negative_demand, branches):
    io = make_io(3, seed=2, negative_demand=negative_demand)
    lams = lambda_grid(io, penalty)
    ds = tradeoff(io, lams, penalty=penalty, branches=branches).to_xarray()
    for j, lam in enumerate(lams):
        reference = independent_minimum(io, lam, penalty)
        value = float(ds.objective[j])
        scale = abs(reference) + 1e-12
        assert value <= reference + 1e-9 * scale  # never worse than the global search
        assert value == pytest.approx(reference, rel=1e-5, abs=1e-9)
        assert float(ds.optimality_gap[j]) < 1e-8
        assert float(ds.stationarity[j]) < 1e-6


def test_milp_certificate_and_bound():
    from pyro_causal_eq.economics.exact import solve_exact

    io = make_io(5, seed=11, negative_demand=True)
    objective = TradeoffObjective(io, "GHG", "JOBS")
    for lam in lambda_grid(io):
        args = (io.A, io.y, objective.w_c, objective.w, lam)
        local, bound, glob = (solve_exact(*args, branches=b) for b in ("local", "bound", "milp"))
        assert glob.value <= local.value * (1 + 1e-9) + 1e-12
        assert bound.bound <= glob.value * (1 + 1e-9) + 1e-12
        assert glob.bound == pytest.approx(glob.value, rel=1e-7)
    with pytest.raises(ValueError, match="branches"):
        solve_exact(*args, branches="all")


def test_negative_demand_needs_branch_flips():
    """With a negative final demand the optimum can lie in the mirrored cone (z_i < 0)."""
    io = make_io(3, seed=2, negative_demand=True)
    lam = lambda_grid(io)[0]
    ds = tradeoff(io, [lam]).to_xarray()
    x = ds.x.values[0]
    z = io.A @ x + io.y
    assert np.all(ds.alpha.values >= 0) and np.all(ds.alpha.values <= 2)
    np.testing.assert_allclose(x, ds.alpha.values[0] * z, rtol=1e-8, atol=1e-10)


def test_narrow_bounds_match_independent_optimizer():
    io = make_io(3, seed=12, negative_demand=True)
    lams = lambda_grid(io)[1:3]
    ds = tradeoff(io, lams, bounds=(0.5, 1.5)).to_xarray()
    assert float(ds.alpha.min()) >= 0.5 and float(ds.alpha.max()) <= 1.5
    for j, lam in enumerate(lams):
        reference = independent_minimum(io, lam, bounds=(0.5, 1.5))
        assert float(ds.objective[j]) == pytest.approx(reference, rel=1e-5, abs=1e-9)
        assert float(ds.objective[j]) <= reference + 1e-9 * abs(reference)


def test_large_bounds_search_branches():
    """ρ(hi |A|) >= 1 (no a-priori output bound): with a negative final demand the optimum
    lies in flipped cones; it used to keep the observed pattern (29.65 vs 4.2e-15 below)."""
    A, y, D = small_table(5, seed=2, negative_demand=True)
    io = IOModel(A, y, D, indicators=["GHG", "JOBS", "VADD"])
    assert radius(5.0 * np.abs(A)) >= 1
    ds = tradeoff(io, [0.3], bounds=(0.0, 5.0)).to_xarray()
    objective = TradeoffObjective(io, "GHG", "JOBS")

    def f(alpha):  # stable designs only (the others have no attracting equilibrium)
        if radius(alpha[:, None] * A) >= 1:
            return 1e30
        return objective.value(io.equilibrium(alpha), 0.3)

    found = differential_evolution(f, [(0.0, 5.0)] * 5, seed=0, tol=1e-12, maxiter=2000)
    reference = found.fun
    assert float(ds.objective[0]) == pytest.approx(reference, rel=1e-6, abs=1e-9)
    assert float(ds.bound[0]) == -np.inf  # not certified
    with pytest.raises(EquilibriumError, match="not a stable equilibrium.*hi <"):
        tradeoff(io, [0.3], bounds=(0.0, 20.0))  # the LP's design is an unstable equilibrium


def test_demand_target_matches_independent_optimizer():
    io = make_io(3, seed=4)
    lams = lambda_grid(io)
    ds = tradeoff(io, lams, target="demand").to_xarray()
    for j, lam in enumerate(lams):
        reference = independent_minimum(io, lam, target="demand")
        assert float(ds.objective[j]) == pytest.approx(reference, rel=1e-6, abs=1e-9)
        assert float(ds.objective[j]) <= reference + 1e-9 * abs(reference)


def test_l2_penalty_gradient_path():
    io = make_io(3, seed=5)
    lams = lambda_grid(io, "l2")[1:3]
    ds = tradeoff(io, lams, penalty="l2").to_xarray()
    assert ds.attrs["method"] == "gradient" and np.isnan(ds.optimum).all()
    for j, lam in enumerate(lams):
        reference = independent_minimum(io, lam, "l2")
        assert float(ds.objective[j]) <= reference * (1 + 1e-7) + 1e-12
        assert float(ds.stationarity[j]) < 1e-4


@pytest.mark.parametrize("method", ["gradient", "adam"])
def test_gradient_methods_reach_the_exact_optimum(method):
    io = make_io(4, seed=3)
    lams = lambda_grid(io)[::2]
    exact = tradeoff(io, lams).to_xarray()
    kwargs = {"steps": 3000, "lr": 2e-2} if method == "adam" else {}
    ds = tradeoff(io, lams, method=method, **kwargs).to_xarray()
    np.testing.assert_allclose(ds.optimum, exact.objective, rtol=1e-9)
    assert (ds.objective >= exact.objective * (1 - 1e-9)).all()
    tolerance = 1e-5 if method == "gradient" else 2e-2
    assert float(ds.optimality_gap.max()) < tolerance


def test_dataset_layout_and_monotone_tradeoff():
    io = make_io(5, seed=6)
    lams = np.sort(lambda_grid(io))
    ds = tradeoff(io, lams).to_xarray()
    assert ds.sizes == {"lam": 4, "sector": 5}
    for name in ("alpha", "x", "ghg", "social", "objective", "optimality_gap", "stationarity"):
        assert name in ds
    assert ds.attrs["ghg_indicator"] == "GHG" and ds.attrs["social_indicator"] == "JOBS"
    # parametric optimality: GHG nondecreasing and employment deviation nonincreasing in λ
    assert np.all(np.diff(ds.ghg.values) >= -1e-9 * abs(ds.ghg.values).max())
    assert np.all(np.diff(ds.social_deviation.values) <= 1e-9 * ds.social0)
    np.testing.assert_allclose(ds.ghg, ds.x.values @ io.intensity("GHG"))
    np.testing.assert_allclose(
        ds.x.values[0], io.equilibrium(ds.alpha.values[0]), rtol=1e-9, atol=1e-12
    )


def test_bad_arguments():
    io = make_io(3)
    for bad in ([], [np.nan], [-1.0], [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="lambdas"):
            tradeoff(io, bad)
    with pytest.raises(KeyError, match="unknown indicator"):
        tradeoff(io, [1.0], ghg="CO2")
    with pytest.raises(ValueError, match="method"):
        tradeoff(io, [1.0], method="newton")
    with pytest.raises(ValueError, match="penalty"):
        tradeoff(io, [1.0], penalty="l3")
    for bounds in ((2.0, 0.0), (-1.0, 2.0), (0.0, np.inf), (1.0,)):
        with pytest.raises(ValueError, match="bounds"):
            tradeoff(io, [1.0], bounds=bounds)
    with pytest.raises(ValueError, match="steps"):
        tradeoff(io, [1.0], method="adam", steps=0)


def test_outputs_roundtrip(tmp_path):
    io = make_io(5, seed=7)
    ds = tradeoff(io, lambda_grid(io)).to_xarray()
    path = write_netcdf(ds, tmp_path / "out" / "t.nc")
    back = xr.open_dataset(path)
    np.testing.assert_allclose(back.alpha, ds.alpha)
    assert back.attrs["penalty"] == "l1"
    back.close()
    written = write_csv(ds, tmp_path / "t.csv", tmp_path / "alpha.csv")
    assert all(p.exists() for p in written)
    assert not list(tmp_path.glob(".*"))  # no temporary files left
    table = sector_table(ds, top=3)
    assert len(table) == 3 and table["change"].is_monotonic_increasing
    lam = chosen_lambda(ds)
    assert table.attrs["lam"] == lam
    pareto_plot(ds, tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").stat().st_size > 1000


def test_useeio_sweep_is_exact(useeio_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = IOModel.from_useeio(useeio_dir / "USEEIOv2.0.1-411")
    ds = tradeoff(io, [1e4, 1e6]).to_xarray()
    assert float(ds.optimality_gap.max()) < 1e-8
    assert float(ds.stationarity.max()) < 1e-6
    assert -1 < float(ds.ghg_change[0]) < float(ds.ghg_change[1]) < 0
    assert -0.5 < float(ds.social_change[0]) < float(ds.social_change[1]) <= 0


def test_georgia_default_is_global_where_local_search_is_not(useeio_dir):
    """GAEEIO has negative coefficients and demands: the apex-flip search alone stays 0.29 %
    above the global optimum at this λ, and the LP relaxation stalls the dual simplex at
    λ ≈ 3.7e4 (it used to raise); the default (MILP) certifies both."""
    from pyro_causal_eq.economics.exact import solve_exact

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        io = IOModel.from_useeio(useeio_dir / "GAEEIOv1.0-s-20")
    objective = TradeoffObjective(io, "GHG", "JOBS")
    lams = objective.default_lambdas()[[4, 6]]
    ds = tradeoff(io, lams).to_xarray()
    assert ds.attrs["branches"] == "milp"
    np.testing.assert_allclose(ds.bound, ds.optimum, rtol=1e-8)  # certified
    np.testing.assert_allclose(ds.objective, ds.optimum, rtol=1e-8)
    for j, lam in enumerate(lams):  # the reported objective is the true one at alpha
        x = io.equilibrium(ds.alpha.values[j])
        assert objective.value(x, lam) == pytest.approx(float(ds.objective[j]), rel=1e-9)
    args = (io.A, io.y, objective.w_c, objective.w, lams[1])
    local = solve_exact(*args, branches="local")
    assert local.value > float(ds.objective[1]) * (1 + 1e-3)


def test_uncertainty_closed_form_and_outputs(tmp_path):
    io = make_io(4, seed=8)
    alpha = np.full(4, 0.8)
    idata = propagate_uncertainty(io, alpha, num_samples=30, target="demand")
    post = idata.posterior
    np.testing.assert_allclose(post.ghg_change, -0.2, rtol=1e-8)
    np.testing.assert_allclose(post.social_change, -0.2, rtol=1e-8)
    assert float(post.ghg_base.std()) > 0
    summary = uncertainty_summary(idata)
    assert {"mean", "sd", "hdi_5%", "hdi_95%"} <= set(summary.columns)
    varied = propagate_uncertainty(io, alpha, num_samples=30)  # assignment: changes vary
    assert float(varied.posterior.ghg_change.std()) > 0
    hdi_plot(varied, tmp_path / "hdi.png")
    assert (tmp_path / "hdi.png").exists()


def test_uncertainty_zero_noise_is_deterministic():
    io = make_io(4, seed=9)
    alpha = np.array([0.5, 1.2, 0.0, 1.0])
    idata = propagate_uncertainty(io, alpha, prior_scale=(1e-12, 1e-12), num_samples=5)
    c = io.intensity("GHG")
    expected = c @ io.equilibrium(alpha) / (c @ io.equilibrium()) - 1
    np.testing.assert_allclose(idata.posterior.ghg_change, expected, rtol=1e-8)


def test_hdi_plot_rejects_draws_without_spread():
    import arviz as az
    import numpy as np

    from pyro_causal_eq.economics import hdi_plot

    idata = az.from_dict(
        posterior={"ghg_change": np.full((1, 5), -0.1), "social_change": np.full((1, 5), 0.0)}
    )
    with pytest.raises(ValueError, match="all draws of 'ghg_change' are equal"):
        hdi_plot(idata)
