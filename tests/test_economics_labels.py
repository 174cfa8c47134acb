"""from_pymrio aligns Z / A, Y, x and the extensions by (region, sector) labels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pymrio
import pytest

from pyro_causal_eq.economics import IOModel, IOTableError

warnings.filterwarnings("ignore", module="pymrio")


def _system(computed: bool):
    io = pymrio.load_test()
    if computed:
        io.calc_all()
    return io


def _reference(region=None):
    return IOModel.from_pymrio(_system(False), region=region)


def _assert_same(model: IOModel, reference: IOModel) -> None:
    assert model.sectors == reference.sectors
    np.testing.assert_allclose(model.A, reference.A, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(model.y, reference.y, rtol=1e-12)
    np.testing.assert_allclose(model.R, reference.R, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(model.equilibrium(), reference.equilibrium(), rtol=1e-10)


@pytest.mark.parametrize("computed", [False, True])
@pytest.mark.parametrize("region", [None, "reg3"])
def test_permuted_final_demand_rows_give_the_same_model(computed, region):
    io = _system(computed)
    order = np.random.default_rng(0).permutation(len(io.Y))
    io.Y = io.Y.iloc[order]
    _assert_same(IOModel.from_pymrio(io, region=region), _reference(region))


@pytest.mark.parametrize("computed", [False, True])
def test_permuted_rows_and_columns_of_every_table_give_the_same_model(computed):
    io = _system(computed)
    rng = np.random.default_rng(1)
    rows = rng.permutation(io.Z.shape[0])
    io.Z = io.Z.iloc[rows].iloc[:, rng.permutation(io.Z.shape[1])]
    if computed:
        io.A = io.A.iloc[rng.permutation(io.A.shape[0])]
        io.x = io.x.iloc[rng.permutation(io.x.shape[0])]
    for ext in io.get_extensions(data=True):
        ext.F = ext.F.iloc[:, rng.permutation(ext.F.shape[1])]
        if computed:
            ext.S = ext.S.iloc[:, rng.permutation(ext.S.shape[1])]
    model = IOModel.from_pymrio(io)
    reference = _reference()
    # the model follows the column order of A (or Z): compare after sorting by label
    order = [model.sectors.index(s) for s in reference.sectors]
    np.testing.assert_allclose(model.A[np.ix_(order, order)], reference.A, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(model.equilibrium()[order], reference.equilibrium(), rtol=1e-10)
    np.testing.assert_allclose(model.R[:, order], reference.R, rtol=1e-12)


def test_alignment_leaves_the_callers_system_untouched():
    io = _system(False)
    io.Y = io.Y.iloc[::-1]
    before = io.Y.index.copy()
    IOModel.from_pymrio(io)
    assert io.Y.index.equals(before) and io.A is None


def _relabel(index: pd.MultiIndex, position: int, label) -> pd.MultiIndex:
    values = list(index)
    values[position] = label
    return pd.MultiIndex.from_tuples(values, names=index.names)


def test_unknown_final_demand_label_is_an_error_naming_it():
    io = _system(False)
    io.Y.index = _relabel(io.Y.index, 3, ("reg1", "unobtainium"))
    with pytest.raises(IOTableError, match=r"rows of Y.*missing.*reg1.*unknown.*unobtainium"):
        IOModel.from_pymrio(io)


def test_duplicated_labels_are_an_error():
    io = _system(False)
    io.Y.index = _relabel(io.Y.index, 1, io.Y.index[0])
    with pytest.raises(IOTableError, match=r"duplicated .* rows of Y.*food"):
        IOModel.from_pymrio(io)
    io = _system(False)
    io.Z.columns = _relabel(io.Z.columns, 1, io.Z.columns[0])
    with pytest.raises(IOTableError, match=r"duplicated .*columns of Z"):
        IOModel.from_pymrio(io)


def test_mislabelled_extension_is_an_error():
    io = _system(False)
    io.emissions.F.columns = _relabel(io.emissions.F.columns, 0, ("reg9", "food"))
    with pytest.raises(IOTableError, match=r"emissions\.F.*reg9"):
        IOModel.from_pymrio(io)


def test_final_demand_with_fewer_rows_is_an_error():
    io = _system(False)
    io.Y = io.Y.iloc[1:]
    with pytest.raises(IOTableError, match=r"rows of Y.*missing"):
        IOModel.from_pymrio(io)
