"""Readable outputs: indicator names and units, clean numbers, the λ grid explained."""

from __future__ import annotations

import warnings

import numpy as np
import pymrio
import pytest
import xarray as xr

from pyro_causal_eq.cli import main
from pyro_causal_eq.economics import IOModel, pareto_plot, tradeoff
from pyro_causal_eq.economics.labels import indicator_label
from pyro_causal_eq.economics.tradeoff_summary import clean_number


def test_labels_and_units():
    assert indicator_label("GHG", {"GHG": "kg CO2 eq"}) == "Greenhouse gas emissions (kg CO2-eq)"
    assert indicator_label("JOBS", {"JOBS": "jobs"}) == "Employment (jobs)"
    assert indicator_label("VADD", {"VADD": "$"}) == "Value added (USD)"
    assert clean_number(2.405e-302) == "0"


def test_dataset_and_plot_carry_readable_names():
    io = IOModel.from_pymrio(pymrio.load_test(), region="reg2")
    ds = tradeoff(io, [10.0, 100.0], branches="local").to_xarray()
    assert ds.social.attrs["long_name"] == "Value added"
    assert ds.social.attrs["units"] == "million USD"
    assert ds.attrs["social_label"] == "Value added (million USD)"
    ax = pareto_plot(ds)
    assert ax.get_xlabel() == "Value added change (%)" and "closest to a -5 %" in ax.get_title()


def test_cli_prints_names_units_grid_note_and_no_tiny_numbers(tmp_path, capsys):
    code = main(["tradeoff", "--no-progress", "--region", "reg2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Value added (million USD) [factor_inputs/Value Added]" in out
    assert "lambda grid: default: 10 distinct designs" in out and "repeat a design" not in out
    assert "does not reach the unintervened point" not in out and "chosen lambda = " in out
    assert "e-1" not in out and "e-30" not in out  # no rounding noise printed as numbers


def test_cli_says_when_the_top_lambda_misses_the_unintervened_point(tmp_path, capsys):
    argv = ["tradeoff", "--no-progress", "--region", "reg2", "--lambdas", "5", "30"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert "does not reach the unintervened point" in capsys.readouterr().out


# ----- the result object: new access is silent, the old Dataset access warns -----
def test_result_old_dataset_access_warns_and_gives_the_same_values():
    result = tradeoff(IOModel.from_pymrio(pymrio.load_test(), region="reg1"), [10.0, 100.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = result.to_xarray()
        summary, why = result.summary(), result.explain_choice()
    assert "GHG change (%)" in summary.columns and "closest to -5 %" in why
    for old in (
        lambda r: r["ghg_change"],
        lambda r: r.ghg_change,
        lambda r: r.lam,
        lambda r: r.sel(lam=100.0).alpha,
        lambda r: r.attrs["lambda_grid"],
    ):
        with pytest.warns(DeprecationWarning, match=r"result\.to_xarray\(\)"):
            value = old(result)
        xr.testing.assert_identical(xr.DataArray(value), xr.DataArray(old(ds)))
    with pytest.raises(AttributeError, match="no attribute"):
        result.no_such_variable  # noqa: B018


# ----- the default λ grid spans the front without repeated designs -----
def check_front_grid(io, **options):
    result = tradeoff(io, branches="local", **options)
    ds = result.to_xarray()
    points = np.stack([ds.ghg_change.values, ds.social_change.values], axis=1)
    gaps = np.abs(points[:, None] - points[None]).max(axis=2) + np.eye(len(points))
    assert gaps.min() > 1e-9, "repeated designs"  # pairwise distinct
    assert np.all(np.diff(ds.lam.values) > 0)
    assert np.abs(points[-1]).max() < 1e-9  # the top λ is the unintervened point
    lam_min = float(ds.lam[0]) * 1e-3
    tiny = tradeoff(io, [lam_min], branches="local").to_xarray()
    np.testing.assert_allclose(points[0], [tiny.ghg_change[0], tiny.social_change[0]], atol=1e-9)
    assert "distinct designs" in ds.attrs["lambda_grid"]
    return ds


@pytest.mark.parametrize("region", ["reg1", "reg2"])
def test_default_grid_spans_the_front_on_the_test_mrio(region):
    ds = check_front_grid(IOModel.from_pymrio(pymrio.load_test(), region=region))
    assert ds.sizes["lam"] >= 8


@pytest.mark.slow  # ~60 s: the local exact solver takes ~7 s per small λ on 411 sectors
def test_default_grid_spans_the_front_on_useeio(useeio_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny negative outputs of the table
        io = IOModel.from_useeio(useeio_dir / "USEEIOv2.0.1-411")
    ds = check_front_grid(io, num_lambdas=4)
    assert ds.sizes["lam"] == 4 and float(ds.ghg_change[0]) < -0.99


def test_explicit_lambdas_override_the_grid():
    io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    ds = tradeoff(io, [3.0, 1.0], branches="local").to_xarray()
    assert ds.lam.values.tolist() == [3.0, 1.0] and ds.attrs["lambda_grid"] == "given by the caller"
