"""Loaders: pymrio systems, USEEIO JSON folders (shared real data), Exiobase-layout archives."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pymrio
import pytest
from test_economics_fixtures import (
    EMPLOYMENT_ROWS,
    GHG_WEIGHTS,
    small_table,
    write_exiobase,
    write_useeio,
)

from pyro_causal_eq.economics import IOModel, IOTableError, tradeoff
from pyro_causal_eq.economics.pymrio_loader import VALUE_ADDED
from pyro_causal_eq.economics.validation import spectral_radius as radius


@pytest.fixture(scope="module")
def test_mrio():
    io = pymrio.load_test()
    io.calc_all()
    return io


# -- pymrio --------------------------------------------------------------------------------
def test_pymrio_whole_system_reproduces_output(test_mrio):
    io = IOModel.from_pymrio(test_mrio)
    assert io.n == 48 and io.sectors[0] == "reg1/food" and len(set(io.regions)) == 6
    assert io.validate_output() < 1e-12
    assert io.default_social == "factor_inputs/Value Added"
    S = test_mrio.emissions.S.to_numpy()
    np.testing.assert_allclose(io.intensity("emissions/emission_type1/air"), S[0])


@pytest.mark.parametrize("region", ["reg1", "reg4"])
def test_pymrio_region_block(test_mrio, region):
    io = IOModel.from_pymrio(test_mrio, region=region)
    A = test_mrio.A.loc[region, region].to_numpy()
    x = test_mrio.x.loc[region].to_numpy()[:, 0]
    np.testing.assert_allclose(io.A, A)
    np.testing.assert_allclose(io.equilibrium(), x, rtol=1e-10)  # demand="total"
    final = IOModel.from_pymrio(test_mrio, region=region, demand="final")
    np.testing.assert_allclose(final.y, test_mrio.Y.loc[region].sum(axis=1).to_numpy())
    own = IOModel.from_pymrio(test_mrio, region=region, demand="domestic_final")
    np.testing.assert_allclose(own.y, test_mrio.Y.loc[region, region].sum(axis=1).to_numpy())


def test_pymrio_without_calc_and_errors():
    io = IOModel.from_pymrio(pymrio.load_test(), region="reg2")  # A missing: computed on a copy
    assert io.validate_output() < 1e-12
    with pytest.raises(KeyError, match="unknown region"):
        IOModel.from_pymrio(pymrio.load_test(), region="XX")
    with pytest.raises(KeyError, match="unknown extension"):
        IOModel.from_pymrio(pymrio.load_test(), extensions=["satellite"])
    with pytest.raises(ValueError, match="demand"):
        IOModel.from_pymrio(pymrio.load_test(), region="reg2", demand="bogus")


def test_pymrio_hand_built_system_without_extensions():
    """An IOSystem from Z and Y only (no satellite accounts): value added per unit output
    (1 - column sums of A) is derived; the checker's usual construction."""
    rng = np.random.default_rng(3)
    idx = pd.MultiIndex.from_product([["r1", "r2"], ["a", "b", "c"]], names=["region", "sector"])
    cols = pd.MultiIndex.from_product([["r1", "r2"], ["hh"]], names=["region", "category"])
    Z = pd.DataFrame(rng.uniform(1, 10, (6, 6)), index=idx, columns=idx)
    system = pymrio.IOSystem(Z=Z, Y=pd.DataFrame(rng.uniform(20, 50, (6, 2)), idx, cols))
    io = IOModel.from_pymrio(system, region="r2")  # calc_all on a copy
    x = Z.sum(axis=1).to_numpy() + system.Y.sum(axis=1).to_numpy()
    A = Z.to_numpy() / x[None, :]
    np.testing.assert_allclose(io.A, A[3:, 3:])
    np.testing.assert_allclose(io.equilibrium(), x[3:], rtol=1e-10)
    assert io.default_ghg is None and io.indicators == [VALUE_ADDED]
    np.testing.assert_allclose(io.intensity(VALUE_ADDED), 1 - A.sum(axis=0)[3:])
    with pytest.raises(KeyError, match="choose the GHG"):
        tradeoff(io, [1.0])
    ds = tradeoff(io, [1.0], ghg=VALUE_ADDED, social=VALUE_ADDED).to_xarray()
    assert np.isfinite(ds.objective).all()
    flat = pd.Index(["a", "b"])
    bad = pymrio.IOSystem(
        Z=pd.DataFrame(np.eye(2), flat, flat), Y=pd.DataFrame(np.ones((2, 1)), flat)
    )
    with pytest.raises(IOTableError, match="MultiIndex"):
        IOModel.from_pymrio(bad)


# -- USEEIO (real shared data) ---------------------------------------------------------------
def test_useeio_411_reproduces_q(useeio_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two tiny negative outputs (used goods, imports)
        io = IOModel.from_useeio(useeio_dir / "USEEIOv2.0.1-411")
        complete = IOModel.from_useeio(
            useeio_dir / "USEEIOv2.0.1-411", demand="2012_US_Production_Complete"
        )
    assert io.n == 411 and io.default_ghg == "GHG" and io.default_social == "JOBS"
    assert io.validate_output() < 1e-4  # README: about 7e-5
    assert complete.validate_output() < 2e-5  # README: about 1e-5 with A
    ghg, jobs, vadd = (float(io.intensity(k) @ io.q) for k in ("GHG", "JOBS", "VADD"))
    assert ghg == pytest.approx(4.9e12, rel=0.02)
    assert jobs == pytest.approx(1.27e8, rel=0.01)
    assert vadd == pytest.approx(1.62e13, rel=0.01)
    assert io.units["GHG"] == "kg CO2 eq"
    assert (io.y < 0).sum() == 4 and (io.A < 0).sum() == 68


def test_useeio_georgia_two_regions(useeio_dir):
    io = IOModel.from_useeio(useeio_dir / "GAEEIOv1.0-s-20")
    assert io.n == 146 and set(io.regions) == {"US-GA", "RoUS"}
    assert io.validate_output() < 1e-7  # README: about 2e-8


def test_useeio_built_folder_and_demand_choices(tmp_path):
    A, y, D = small_table(4)
    folder = write_useeio(tmp_path / "m", A, y, D)
    io = IOModel.from_useeio(folder)
    np.testing.assert_allclose(io.equilibrium(), io.q, rtol=1e-12)
    custom = IOModel.from_useeio(folder, demand=2 * y)
    np.testing.assert_allclose(custom.equilibrium(), 2 * io.q, rtol=1e-12)
    with pytest.raises(KeyError, match="unknown USEEIO demand"):
        IOModel.from_useeio(folder, demand="2099_XX")


@pytest.mark.parametrize(
    "change, error, message",
    [
        (
            lambda f, A: (f / "matrix/A_d.json").write_text(json.dumps(A[:, :3].tolist())),
            IOTableError,
            "square",
        ),
        (
            lambda f, A: (f / "matrix/A_d.json").write_text(
                json.dumps(A.tolist()).replace("0.0", "NaN", 1)
            ),
            IOTableError,
            "NaN",
        ),
        (
            lambda f, A: (f / "matrix/A_d.json").write_text(
                json.dumps((1.1 * A / radius(A)).tolist())
            ),
            IOTableError,
            "spectral radius",
        ),
        (
            lambda f, A: (f / "matrix/q.json").write_text(json.dumps([[1.0], [-50.0], [2], [3]])),
            IOTableError,
            "negative output",
        ),
        (lambda f, A: (f / "matrix/D.json").unlink(), FileNotFoundError, "D.json"),
        (lambda f, A: (f / "matrix/D.json").write_text("{not json"), IOTableError, "JSON"),
    ],
)
def test_useeio_malformed(tmp_path, change, error, message):
    A, y, D = small_table(4)
    A[0, 1] = 0.0
    folder = write_useeio(tmp_path / "m", A, y, D)
    change(folder, A)
    with pytest.raises(error, match=message):
        IOModel.from_useeio(folder)


def test_useeio_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        IOModel.from_useeio(tmp_path / "nowhere")


# -- Exiobase (archives built in the same layout) --------------------------------------------
@pytest.fixture(scope="module", params=["v3.8", "v3.9"])
def exiobase_archive(request, tmp_path_factory):
    return write_exiobase(tmp_path_factory.mktemp(request.param), request.param)


def test_exiobase_selects_rows_by_label(exiobase_archive):
    archive, source = exiobase_archive
    io = IOModel.from_exiobase(archive, "DE")
    assert io.n == 8 and io.default_ghg == "GHG" and io.default_social == "employment"
    assert io.units["GHG"] == "kg CO2-eq" and io.units["employment"] == "1000 p"
    x = source.x.loc["DE"].to_numpy()[:, 0]
    np.testing.assert_allclose(io.equilibrium(), x, rtol=1e-8)
    exts = {name: getattr(source, name) for name in source.get_extensions()}
    ghg = np.zeros(8)
    jobs = np.zeros(8)
    for ext in exts.values():
        if ext.name == "impacts":
            continue
        S = ext.S.loc[:, "DE"]
        for row, weight in GHG_WEIGHTS.items():
            if row in S.index:
                ghg += weight * S.loc[row].to_numpy()
        for row in EMPLOYMENT_ROWS:
            if row in S.index:
                jobs += S.loc[row].to_numpy()
    np.testing.assert_allclose(io.intensity("GHG"), ghg, rtol=1e-8)
    np.testing.assert_allclose(io.intensity("employment"), jobs, rtol=1e-8)


def test_exiobase_errors(exiobase_archive, tmp_path):
    archive, _ = exiobase_archive
    with pytest.raises(KeyError, match="unknown country 'XX'"):
        IOModel.from_exiobase(archive, "XX")
    with pytest.raises(FileNotFoundError):
        IOModel.from_exiobase(tmp_path / "missing.zip", "FR")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot parse"):
        IOModel.from_exiobase(bad, "FR")


def test_exiobase_missing_employment():
    from pyro_causal_eq.economics.exiobase import select_employment, select_ghg

    names = ["satellite/CO2 - combustion - air", "satellite/Employment hours: x"]
    owners = ["satellite", "satellite"]
    assert select_ghg(names, owners) == {"satellite/CO2 - combustion - air": 1.0}
    with pytest.raises(KeyError, match="no employment rows"):
        select_employment(names, owners)
    with pytest.raises(KeyError, match="no GHG rows"):
        select_ghg(names[1:], owners[1:])
