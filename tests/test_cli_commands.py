"""The ``reduce`` and ``rebound`` subcommands, run in-process with small settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

import pyro_causal_eq as pce
from pyro_causal_eq.cli import build_parser, main
from pyro_causal_eq.economics.rebound import ENERGY, rebound_model
from pyro_causal_eq.simulators import LinearGaussianSCM

REDUCE_OUT = {"reduction.nc", "maps.csv", "summary.json"}
REBOUND_OUT = {"rebound.nc", "rebound.csv", "summary.json"}
QUICK_REBOUND = ["--num-train", "32", "--num-test", "16", "--lm-steps", "8", "--grid", "3"]


def run(capsys, *argv):
    code = main([*map(str, argv), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", ["reduce", "rebound"])
def test_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"pyro-causal-eq {command} --" in text
    assert "--seed" in text and "--steps" in text and "--out" in text


def test_main_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "reduce" in text and "rebound" in text and "tradeoff" in text


def test_reduce_chain_matches_analytic(tmp_path, capsys):
    out = tmp_path / "tcr"
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    code, stdout, _ = run(capsys, "reduce", "--nodes", "5", "--interventions", "300",
                          "--samples", "16", "--seed", "1", "--out", out)  # fmt: skip
    assert code == 0
    assert {p.name for p in out.iterdir()} == REDUCE_OUT
    summary = json.loads((out / "summary.json").read_text())
    assert (torch.get_default_dtype(), torch.get_num_threads()) == (dtype, threads)  # restored
    assert summary["converged"] and summary["alignment"]["tau"] > 0.99
    assert summary["alignment"]["omega"] > 0.99
    assert "alignment with the analytic reduction" in stdout and str(out / "maps.csv") in stdout
    # the written maps are those of an independent closed form (Proposition 3.3)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tau, omega = LinearGaussianSCM.chain(5, seed=1).solution()
    finally:
        torch.set_default_dtype(previous)
    ds = xr.load_dataset(out / "reduction.nc")
    np.testing.assert_allclose(ds["tau_analytic"].values, tau.numpy())
    np.testing.assert_allclose(ds["omega_analytic"].values, omega.numpy())
    assert ds.attrs["alignment_tau"] == pytest.approx(summary["alignment"]["tau"])
    learned = ds["tau"].values[0] * ds["a"].values[0]
    cosine = abs(learned @ tau.numpy()) / np.linalg.norm(learned) / np.linalg.norm(tau.numpy())
    assert cosine == pytest.approx(summary["alignment"]["tau"])


def test_reduce_without_analytic_solution(tmp_path, capsys):
    argv = ["--simulator", "double-well", "--interventions", "40", "--samples", "8", "--steps", "5"]
    code, stdout, _ = run(capsys, "reduce", *argv, "--out", tmp_path / "w")
    assert code == 0 and "no analytic reduction" in stdout
    assert "alignment" not in json.loads((tmp_path / "w" / "summary.json").read_text())


def test_reduce_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "none"
    code, _, err = run(capsys, "reduce", "--samples", "1", "--out", out)
    assert code == 1 and "--samples must be at least 2" in err and not out.exists()
    code, _, err = run(capsys, "reduce", "--eta-g", "1", "--out", out)
    assert code == 1 and "--eta-g needs a simulator with groups" in err and not out.exists()
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "reduce", "--interventions", "30", "--samples", "4",
                       "--steps", "2", "--out", tmp_path / "file")  # fmt: skip
    assert code == 1 and "is not a folder" in err


def test_rebound_energy_with_and_without_invariant_intervention(tmp_path, capsys):
    out = tmp_path / "reb"
    code, stdout, _ = run(capsys, "rebound", *QUICK_REBOUND, "--out", out)
    assert code == 0
    assert {p.name for p in out.iterdir()} == REBOUND_OUT
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backfire_everywhere"] and summary["saving_everywhere"]
    assert summary["invariance_error_held_out"] < 1e-2
    assert "invariance error" in stdout and "efficiency only" in stdout
    ds = xr.load_dataset(out / "rebound.nc")
    np.testing.assert_allclose(ds["a01"].values, [0.01, 0.1, 0.19])
    # reference and efficiency-only energy use against the model itself (closed system)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        grid = torch.tensor([0.01, 0.1, 0.19])
        ref = rebound_model(a01=grid)["x"][:, ENERGY]
        lie = pce.do(rebound_model, actions={"efficiency": pce.Scale(0.6)})(a01=grid)
    finally:
        torch.set_default_dtype(previous)
    np.testing.assert_allclose(ds["energy_reference"].values, ref.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ds["energy_efficiency"].values, lie["x"][:, ENERGY], rtol=1e-10)
    # the paper's numbers at A_01 = 0.1: backfire to 1.862, the invariant intervention 1.482
    assert float(ds["energy_efficiency"].sel(a01=0.1)) == pytest.approx(1.862, abs=1e-3)
    assert float(ds["energy_invariant"].sel(a01=0.1)) == pytest.approx(1.482, abs=2e-3)
    deviation = ds["demand_y0_invariant"] / ds["demand_y0_reference"] - 1
    assert float(abs(deviation).max()) == pytest.approx(summary["invariance_error_grid"])


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--efficiency", "1.5"], "--efficiency must lie in (0, 1]"),
        (["--a01", "0.2", "0.1"], "--a01 needs 0 <= LO < HI < 1"),
        (["--grid", "1"], "--grid must be at least 2"),
    ],
)
def test_rebound_bad_input(argv, message, tmp_path, capsys):
    code, _, err = run(capsys, "rebound", *argv, "--out", tmp_path / "o")
    assert code == 1 and message in err and not (tmp_path / "o").exists()
