"""Loader from a :class:`pymrio.IOSystem` (the whole MRIO or one region's domestic block)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .io_model import IOModel
from .pymrio_labels import align_system
from .validation import IOTableError

DEMANDS = ("total", "final", "domestic_final")
#: indicator derived from the table when the system has no extension: ``1 - Σ_i A_ij``
VALUE_ADDED = "value added (1 - column sums of A)"


def _label(key) -> str:
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


def extension_rows(iosystem, extensions=None) -> tuple[list[str], list[str], np.ndarray, dict]:
    """All rows of the chosen extensions: ``(names, extension of each row, S, units)``.

    Rows are named ``"<extension>/<label>/<label>..."``; ``S`` is the intensity per unit of
    output for every column (region, sector) of the system. A system without extensions gets
    the single row :data:`VALUE_ADDED` (GHG must then be given by the caller).

    :param iosystem: a ``pymrio.IOSystem`` with ``A`` and ``x`` computed.
    :param extensions: extension names (default: all).
    """
    x = iosystem.x.iloc[:, 0].to_numpy(dtype=np.float64)
    names, owners, rows, units = [], [], [], {}
    available = {
        str(key): ext
        for key, ext in zip(
            iosystem.get_extensions(), iosystem.get_extensions(data=True), strict=True
        )
    }
    wanted = list(available) if extensions is None else list(extensions)
    for ext_name in wanted:
        if ext_name not in available:
            raise KeyError(f"unknown extension {ext_name!r}; extensions: {sorted(available)}")
        ext = available[ext_name]
        if ext.S is not None:
            S = ext.S.to_numpy(dtype=np.float64)
        elif ext.F is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                S = np.where(x > 0, ext.F.to_numpy(dtype=np.float64) / np.where(x > 0, x, 1), 0.0)
        else:
            continue
        unit = getattr(ext, "unit", None)
        for i, key in enumerate(ext.get_rows()):
            name = f"{ext_name}/{_label(key)}"
            names.append(name)
            owners.append(ext_name)
            rows.append(S[i])
            if isinstance(unit, pd.DataFrame) and len(unit) == S.shape[0]:
                units[name] = str(unit.iloc[i, 0])
    if not rows and extensions is None and iosystem.A is not None:
        # no satellite accounts (e.g. a system built from Z and Y only): value added per unit
        # output, 1 - column sums of A, is the one indicator the table itself defines
        names, owners = [VALUE_ADDED], ["derived"]
        rows = [1.0 - iosystem.A.to_numpy(dtype=np.float64).sum(axis=0)]
    if not rows:
        raise IOTableError(f"the IO system has no data in the extensions {wanted}")
    return names, owners, np.vstack(rows), units


def from_pymrio(
    iosystem,
    region: str | None = None,
    *,
    demand: str = "total",
    extensions=None,
    ghg: str | None = None,
    social: str | None = None,
    extra_rows: dict | None = None,
    sparse: bool = False,
) -> IOModel:
    """An :class:`IOModel` from a ``pymrio.IOSystem``.

    :param iosystem: the IO system (``calc_all`` is run on a copy when ``A`` or ``x`` is
        missing). ``Z`` / ``A``, ``Y``, ``x`` and the extensions are aligned by their
        (region, sector) labels (:func:`~pyro_causal_eq.economics.pymrio_labels.align_system`):
        permuted rows give the same model; missing, unknown or duplicated labels raise
        :class:`IOTableError`.
    :param region: ``None`` for the whole multi-regional system (sectors labelled
        ``"region/sector"``), or one region whose domestic block ``A[r, r]`` is kept
        (interactions with other regions are neglected, as in the paper).
    :param demand: final demand of the single-region model: ``"total"`` (``x_r - A_rr x_r``:
        final demand of all regions plus intermediate exports, so that the model reproduces the
        observed output), ``"final"`` (all regions' final demand for the region's products) or
        ``"domestic_final"`` (the region's own final demand only).
    :param extensions: extension names to read (default: all).
    :param ghg: default GHG indicator name (default: the first emission-like row).
    :param social: default socio-economic indicator (default: employment, else value added).
    :param extra_rows: name -> (weights over indicator names, unit): composite indicators
        added as weighted sums of rows (e.g. GWP100 of CO2, CH4, N2O).
    :param sparse: keep ``A`` as a scipy CSR matrix (for Exiobase-size tables: sparse LU in
        the equilibrium and gradients, sparse constraints in the exact trade-off).

    >>> import pymrio
    >>> io = from_pymrio(pymrio.load_test(), region="reg2")
    >>> io.n, io.default_ghg, io.default_social
    (8, 'emissions/emission_type1/air', 'factor_inputs/Value Added')
    >>> io.validate_output() < 1e-12
    True
    """
    iosystem = align_system(iosystem)  # by (region, sector) labels, never by position
    if iosystem.A is None or iosystem.x is None:
        iosystem = copy.deepcopy(iosystem)  # calc_all fills in tables: not on the caller's
        iosystem.calc_all()
    if demand not in DEMANDS:
        raise ValueError(f"demand must be one of {DEMANDS}, got {demand!r}")
    names, _, S, units = extension_rows(iosystem, extensions)
    for name, (weights, unit) in (extra_rows or {}).items():
        row = np.zeros(S.shape[1])
        for key, weight in weights.items():
            row += weight * S[names.index(key)]
        names, S, units = names + [name], np.vstack([S, row]), dict(units, **{name: unit})
    A_full = iosystem.A
    x_full = iosystem.x.iloc[:, 0]
    Y = iosystem.Y
    regions = [str(r) for r in iosystem.get_regions()]
    if region is None:
        A = A_full.to_numpy(dtype=np.float64)
        q = x_full.to_numpy(dtype=np.float64)
        y = Y.sum(axis=1).to_numpy(dtype=np.float64)
        sectors = [_label(k) for k in A_full.columns]
        region_labels = [str(k[0]) for k in A_full.columns]
        name = "MRIO"
    else:
        if str(region) not in regions:
            raise KeyError(f"unknown region/country {region!r}; regions: {regions}")
        mask = np.array([str(k[0]) == str(region) for k in A_full.columns])
        A = A_full.to_numpy(dtype=np.float64)[np.ix_(mask, mask)]
        q = x_full.to_numpy(dtype=np.float64)[mask]
        if demand == "total":
            y = q - A @ q
        elif demand == "final":
            y = Y.to_numpy(dtype=np.float64)[mask].sum(axis=1)
        else:
            own = np.array([str(k[0]) == str(region) for k in Y.columns])
            y = Y.to_numpy(dtype=np.float64)[np.ix_(mask, own)].sum(axis=1)
        S = S[:, mask]
        sectors = [str(k[1]) for k in A_full.columns[mask]]
        region_labels = [str(region)] * len(sectors)
        name = str(region)
    unit = getattr(iosystem, "unit", None)
    output_unit = str(unit.iloc[0, 0]) if isinstance(unit, pd.DataFrame) and len(unit) else ""
    meta_name = getattr(getattr(iosystem, "meta", None), "name", None) or "pymrio"
    io = IOModel(
        sp.csr_matrix(A) if sparse else A,
        y,
        S,
        indicators=names,
        sectors=sectors,
        units=units,
        q=q,
        regions=region_labels,
        ghg=ghg,
        social=social,
        name=f"{meta_name} {name}",
        output_unit=output_unit,
    )
    if social is None:
        io.default_social = io._guess(("employ", "JOBS", "value added", "VADD", "factor"))
    if ghg is None:
        io.default_ghg = io._guess(("GHG", "GWP", "CO2", "emission"))
    return io
