"""The ``pyro-causal-eq`` command: the trade-off main job, outputs, and clear input errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from test_economics_fixtures import small_table, write_exiobase, write_useeio

from pyro_causal_eq.cli import build_parser, main
from pyro_causal_eq.economics.validation import spectral_radius

OUTPUTS = {"tradeoff.nc", "tradeoff.csv", "alpha.csv", "sectors.csv", "pareto.png"}


def run(capsys, *argv):
    code = main(["tradeoff", "--no-progress", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_default_embedded_system(tmp_path, capsys):
    out = tmp_path / "res"
    code, stdout, _ = run(capsys, "--lambdas", "10,100", "1000", "--out", out)
    assert code == 0
    assert {p.name for p in out.iterdir()} == OUTPUTS
    ds = xr.open_dataset(out / "tradeoff.nc")
    assert ds.sizes["lam"] == 3 and ds.sizes["sector"] == 48
    assert ds.attrs["social_indicator"] == "factor_inputs/Value Added"
    assert float(ds.optimality_gap.max()) < 1e-8
    ds.close()
    assert "wrote:" in stdout and str(out / "tradeoff.nc") in stdout


def test_useeio_folder_and_region(tmp_path, capsys):
    A, y, D = small_table(5)
    folder = write_useeio(tmp_path / "m", A, y, D)
    code, stdout, _ = run(capsys, "--useeio", folder, "--out", tmp_path / "o", "--top", "3")
    assert code == 0 and "JOBS" in stdout
    code, _, _ = run(capsys, "--region", "reg3", "--lambdas", "5", "--branches", "local",
                     "--penalty", "relative", "--out", tmp_path / "r")  # fmt: skip
    assert code == 0
    ds = xr.open_dataset(tmp_path / "r" / "tradeoff.nc")
    assert ds.attrs["branches"] == "local" and ds.attrs["penalty"] == "relative"
    ds.close()
    q = np.linalg.solve(np.eye(5) - A, y)
    q[0] = -1e-6 * q.sum()  # a tiny negative output: a one-line warning, not a traceback
    code, _, err = run(capsys, "--useeio", write_useeio(tmp_path / "w", A, y, D, q=q),
                       "--lambdas", "1", "--out", tmp_path / "w_out")  # fmt: skip
    assert code == 0 and "pyro-causal-eq: warning: output q has 1 tiny negative" in err
    assert "check_table" not in err


def test_exiobase_archive(tmp_path, capsys):
    archive, _ = write_exiobase(tmp_path, "v3.8")
    code, stdout, _ = run(
        capsys, "--exiobase", archive, "--country", "FR", "--lambdas", "1", "--out", tmp_path / "o"
    )
    assert code == 0 and "Employment" in stdout and "[employment]" in stdout
    code, _, err = run(capsys, "--exiobase", archive, "--country", "XX", "--out", tmp_path / "x")
    assert code == 1 and "unknown country 'XX'" in err
    assert not (tmp_path / "x").exists()


def _malformed(tmp_path, kind):
    A, y, D = small_table(4)
    q = "auto"
    if kind == "non-square":
        A = A[:, :3]
    elif kind == "nan":
        A[1, 2] = np.nan
    elif kind == "negative-output":
        q = [1.0, -40.0, 3.0, 2.0]
    elif kind == "radius":
        A = 1.2 * A / spectral_radius(A)
    return write_useeio(tmp_path / kind, A, y, D, q=q)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("non-square", "square"),
        ("nan", "NaN"),
        ("negative-output", "negative output"),
        ("radius", "spectral radius"),
    ],
)
def test_malformed_tables(tmp_path, capsys, kind, message):
    folder = _malformed(tmp_path, kind)
    out = tmp_path / "out"
    code, _, err = run(capsys, "--useeio", folder, "--out", out)
    assert code == 1 and message in err and err.startswith("pyro-causal-eq: error:")
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--useeio", "/nonexistent/folder"], "does not exist"),
        (["--exiobase", "/nonexistent.zip"], "--country"),
        (["--exiobase", "/nonexistent.zip", "--country", "FR"], "does not exist"),
        (["--country", "FR"], "--exiobase only"),
        (["--ghg", "CO2"], "unknown indicator 'CO2'"),
        (["--social", "employment"], "unknown indicator 'employment'"),
        (["--lambdas", "1,abc"], "not a number"),
        (["--lambdas", "-1"], "nonnegative"),
        (["--region", "XX"], "unknown region"),
        (["--bounds", "2", "0"], "0 <= lo <= hi"),
        (["--bounds", "-1", "2"], "0 <= lo <= hi"),
        (["--method", "adam", "--steps", "0"], "steps must be at least 1"),
    ],
)
def test_bad_arguments(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    code, _, err = run(capsys, *argv, "--out", out)
    assert code == 1 and message in err
    assert not out.exists()


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run(capsys, "--lambdas", "10", "--out", target)
    assert code == 1 and "not a folder" in err
    assert target.read_text() == "x"


def test_failure_while_writing_leaves_no_file(tmp_path, capsys, monkeypatch):
    """The plot is written last: its failure must not leave the other files behind."""
    import matplotlib.figure

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    out = tmp_path / "new"
    code, _, err = run(capsys, "--region", "reg1", "--lambdas", "1", "--out", out)
    assert code == 1 and "disk full" in err and not out.exists()
    old = tmp_path / "old"
    old.mkdir()
    (old / "tradeoff.csv").write_text("previous")
    code, _, _ = run(capsys, "--region", "reg1", "--lambdas", "1", "--out", old)
    assert code == 1 and [p.name for p in old.iterdir()] == ["tradeoff.csv"]
    assert (old / "tradeoff.csv").read_text() == "previous"


def test_parser_needs_a_subcommand():
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([])
    assert info.value.code == 2


# the console script installed beside this interpreter (the venv's bin/), else on PATH
CONSOLE_SCRIPT = shutil.which(
    "pyro-causal-eq", path=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]])
)


@pytest.mark.skipif(CONSOLE_SCRIPT is None, reason="console script not installed")
def test_console_script(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ok = subprocess.run(
        [
            CONSOLE_SCRIPT,
            "tradeoff",
            "--lambdas",
            "50",
            "--no-progress",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "o" / "tradeoff.nc").exists()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyro_causal_eq.cli",
            "tradeoff",
            "--useeio",
            str(tmp_path / "none"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode != 0 and "does not exist" in bad.stderr
    json.dumps(ok.stdout)  # printable
