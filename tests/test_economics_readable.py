"""Readable outputs: indicator names and units, clean numbers, the λ grid explained."""

from __future__ import annotations

import pymrio

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
    ds = tradeoff(io, [10.0, 100.0], branches="local")
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
    assert "lambda grid: default: log-spaced" in out and "repeat a design" in out
    assert "e-1" not in out and "e-30" not in out  # no rounding noise printed as numbers


def test_cli_says_when_the_top_lambda_misses_the_unintervened_point(tmp_path, capsys):
    argv = ["tradeoff", "--no-progress", "--region", "reg2", "--lambdas", "5", "30"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert "does not reach the unintervened point" in capsys.readouterr().out
