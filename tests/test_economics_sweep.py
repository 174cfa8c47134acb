"""economics.sweep: tables x regions x draws x λ, serial vs a 2-worker LocalCluster; the CLI's
--scenarios / --scheduler."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from pyro_causal_eq.cli import main
from pyro_causal_eq.economics import IOModel, sweep, tradeoff
from pyro_causal_eq.economics.sweep import load_table, perturbed

pytest.importorskip("distributed")

TABLES = {"test": {"source": "pymrio_test"}}
KW = dict(draws=2, noise=(0.05, 0.02), seed=3, branches="local")


@pytest.fixture(scope="module")
def serial():
    return sweep(TABLES, ["reg1", "reg4"], [1.0, 30.0, 1000.0], **KW)


def test_dims_and_values_match_single_tradeoffs(serial):
    assert serial.ghg_change.dims == ("scenario", "region", "draw", "lam")
    assert serial.alpha.dims == ("scenario", "region", "draw", "lam", "sector")
    io = perturbed(load_table(TABLES["test"], "reg4"), 1, (0.05, 0.02), 3)
    one = tradeoff(io, [1.0, 30.0, 1000.0], branches="local").to_xarray()
    at = serial.sel(scenario="test", region="reg4", draw=1)
    np.testing.assert_array_equal(at.alpha.values, one.alpha.values)
    assert not np.array_equal(serial.alpha.sel(draw=0).values, serial.alpha.sel(draw=1).values)


def test_local_cluster_equals_serial(serial, tmp_path):
    ds = sweep(
        TABLES, ["reg1", "reg4"], [1.0, 30.0, 1000.0], output=tmp_path / "s.nc",
        scheduler="local", workers=2, **KW,
    )  # fmt: skip
    xr.testing.assert_identical(ds.drop_attrs(), serial.drop_attrs())


def test_default_lambdas_are_indexed_by_position():
    ds = sweep(TABLES, ["reg2"], branches="local")
    assert ds.lam.values.tolist() == list(range(ds.sizes["lam"]))
    io = IOModel.from_pymrio(__import__("pymrio").load_test(), region="reg2")
    np.testing.assert_allclose(ds.lam_value.values.ravel(), tradeoff(io).to_xarray().lam.values)


def test_cli_scenarios_file(tmp_path, capsys):
    spec = {"tables": TABLES, "regions": ["reg1"], "lambdas": [10, 100], "draws": 1,
            "options": {"branches": "local"}}  # fmt: skip
    path = tmp_path / "s.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "o"
    code = main(["tradeoff", "--no-progress", "--scenarios", str(path), "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0 and "GHG change (%)" in stdout and (out / "sweep.nc").exists()
    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text("tables: {test: {source: pymrio_test}}\nregions: [reg1]\nbogus: 1\n")
    code = main(["tradeoff", "--scenarios", str(yaml_path), "--out", str(tmp_path / "p")])
    assert code == 1 and "unknown keys ['bogus']" in capsys.readouterr().err
    code = main(["tradeoff", "--scheduler", "local", "--out", str(tmp_path / "q")])
    assert code == 1 and "give --scenarios" in capsys.readouterr().err
