"""Loader for the USEEIO API static-JSON format (US EPA environmentally-extended IO models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .io_model import IOModel
from .validation import IOTableError, as_matrix


def _read_json(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"USEEIO file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise IOTableError(f"USEEIO file {path} is not valid JSON: {error}") from None


def _demand_vector(folder: Path, demand_id: str, sector_ids: list[str]) -> np.ndarray:
    entries = _read_json(folder / "demands" / f"{demand_id}.json")
    index = {sector: i for i, sector in enumerate(sector_ids)}
    y = np.zeros(len(sector_ids))
    for entry in entries:
        try:
            sector, amount = entry["sector"], float(entry["amount"])
        except (KeyError, TypeError, ValueError):
            raise IOTableError(
                f"demand {demand_id}: entries must be {{'sector': id, 'amount': number}}, "
                f"got {entry!r}"
            ) from None
        if sector not in index:
            raise IOTableError(f"demand {demand_id} names unknown sector {sector!r}")
        y[index[sector]] += amount
    return y


def _default_demands(folder: Path) -> list[dict]:
    catalog = _read_json(folder / "demands.json")
    chosen = [d for d in catalog if d.get("type") == "Production" and d.get("system") == "Domestic"]
    if not chosen:
        raise IOTableError(f"{folder}/demands.json lists no Production/Domestic demand")
    latest = max(d.get("year", 0) for d in chosen)
    return [d for d in chosen if d.get("year", 0) == latest]


def from_useeio(folder, demand=None, *, matrix: str | None = None) -> IOModel:
    """Read a model published in the USEEIO API JSON format.

    Files read: ``matrix/A_d.json`` (or ``A.json``), ``matrix/D.json`` (indicator rows),
    ``matrix/q.json`` (observed output), ``sectors.json``, ``indicators.json``,
    ``demands.json`` and ``demands/<id>.json``. Indicators are named by their code (``GHG``,
    ``JOBS``, ``VADD``, ...); defaults: GHG and JOBS.

    :param folder: the model folder (e.g. ``.../useeio/USEEIOv2.0.1-411``).
    :param demand: ``None`` (the sum of the latest Production/Domestic demands of all
        locations, which reproduces ``q`` with the domestic matrix), a demand id, a list of
        ids (summed), or a vector of final demand.
    :param matrix: ``"A_d"`` (domestic requirements) or ``"A"`` (total); default ``"A_d"``
        unless every named demand is a ``Complete`` one.
    :raises FileNotFoundError: missing folder or file.
    :raises IOTableError: malformed content (shapes, NaN, unknown sectors, ...).

    >>> from pathlib import Path
    >>> folder = Path("/work/shared/data/useeio/USEEIOv2.0.1-411")
    >>> io = from_useeio(folder) if folder.exists() else None
    >>> io is None or (io.n == 411 and io.validate_output() < 1e-4)
    True
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"USEEIO model folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"USEEIO model path {folder} is not a folder")
    sectors = _read_json(folder / "sectors.json")
    indicators = _read_json(folder / "indicators.json")
    try:
        sectors = sorted(sectors, key=lambda s: s["index"])
        indicators = sorted(indicators, key=lambda s: s["index"])
        sector_ids = [s["id"] for s in sectors]
        codes = [k["code"] for k in indicators]
        units = {k["code"]: k.get("unit", "") for k in indicators}
    except (KeyError, TypeError):
        raise IOTableError(
            f"{folder}: sectors.json / indicators.json need 'id'/'code' and 'index' fields"
        ) from None
    if isinstance(demand, str):
        demand_ids = [demand]
    elif demand is None:
        demand_ids = [d["id"] for d in _default_demands(folder)]
    elif isinstance(demand, list | tuple) and all(isinstance(d, str) for d in demand):
        demand_ids = list(demand)
    else:
        demand_ids = None
    if matrix is None:
        complete = demand_ids is not None and all("Complete" in d for d in demand_ids)
        matrix = "A" if complete else "A_d"
    if matrix not in ("A", "A_d"):
        raise ValueError(f"matrix must be 'A' or 'A_d', got {matrix!r}")
    A = as_matrix(_read_json(folder / "matrix" / f"{matrix}.json"), f"{matrix}.json")
    D = as_matrix(_read_json(folder / "matrix" / "D.json"), "D.json")
    if D.shape[0] != len(codes):
        raise IOTableError(f"D.json has {D.shape[0]} rows for {len(codes)} indicators")
    if demand_ids is not None:
        catalog = {d["id"] for d in _read_json(folder / "demands.json")}
        unknown = [d for d in demand_ids if d not in catalog]
        if unknown:
            raise KeyError(f"unknown USEEIO demand(s) {unknown}; available: {sorted(catalog)}")
        y = sum(_demand_vector(folder, d, sector_ids) for d in demand_ids)
        label = "+".join(demand_ids)
    else:
        y, label = np.asarray(demand, dtype=np.float64), "custom demand"
    q_path = folder / "matrix" / "q.json"
    q = np.asarray(_read_json(q_path), dtype=np.float64).reshape(-1) if q_path.exists() else None
    ghg = "GHG" if "GHG" in codes else None
    social = "JOBS" if "JOBS" in codes else ("VADD" if "VADD" in codes else None)
    return IOModel(
        A,
        y,
        D,
        indicators=codes,
        sectors=sector_ids,
        units=units,
        q=q,
        regions=[s.get("location", "") for s in sectors],
        ghg=ghg,
        social=social,
        name=f"{folder.name} ({matrix}, {label})",
        output_unit="USD",
        sector_names=[str(s.get("name", s["id"])) for s in sectors],
    )
