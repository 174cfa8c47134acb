"""Builders of small IO tables on disk (USEEIO JSON folders, Exiobase-layout archives) shared by
the economics and CLI tests. (No tests here.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

GASES_V38 = [
    "CH4 - combustion - air",
    "Employment: Low-skilled male",
    "CO2 - combustion - air",
    "Employment hours: Low-skilled male",
    "N2O - agriculture - air",
    "CO2 - waste - biogenic - air",
    "Employment: High-skilled female",
    "NOX - combustion - air",
    "CO2 - combustion - water",
    "Value Added",
    "Employment: Vulnerable employment",  # a subset of the skill/sex rows: never summed
    "CO2 - non combustion - Cement production - air",
]
UNITS_V38 = [
    "kg",
    "1000 p",
    "kg",
    "M.hr",
    "kg",
    "kg",
    "1000 p",
    "kg",
    "kg",
    "M.EUR",
    "1000 p",
    "kg",
]
#: expected weights of the rows above in GHG (GWP100, AR5) and employment
GHG_WEIGHTS = {
    "CH4 - combustion - air": 28.0,
    "CO2 - combustion - air": 1.0,
    "N2O - agriculture - air": 265.0,
    "CO2 - non combustion - Cement production - air": 1.0,
}
EMPLOYMENT_ROWS = ["Employment: Low-skilled male", "Employment: High-skilled female"]
COUNTRIES = {"reg1": "FR", "reg2": "DE", "reg3": "IT", "reg4": "US", "reg5": "GB", "reg6": "WA"}


def small_table(n: int = 4, seed: int = 0, negative_demand: bool = False):
    """A random productive table ``(A, y, D)``; D rows: GHG, JOBS, VADD."""
    rng = np.random.default_rng(seed)
    A = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    A *= 0.35 / A.sum(axis=0).max()
    y = rng.uniform(1, 10, n)
    if negative_demand:
        y[-1] = -0.3 * (A[-1] @ np.linalg.solve(np.eye(n) - A, y))
    D = np.vstack([rng.uniform(0.1, 5, n), rng.uniform(0.1, 2, n), rng.uniform(0.2, 0.8, n)])
    return A, y, D


def write_useeio(folder: Path, A, y, D, q="auto", codes=("GHG", "JOBS", "VADD")) -> Path:
    """Write a model in the USEEIO API JSON layout."""
    folder = Path(folder)
    (folder / "matrix").mkdir(parents=True, exist_ok=True)
    (folder / "demands").mkdir(exist_ok=True)
    A = np.asarray(A, dtype=float)
    n = len(y)
    ids = [f"S{i}/US" for i in range(n)]
    sectors = [
        {"id": s, "index": i, "name": f"sector {i}", "code": s[:-3], "location": "US"}
        for i, s in enumerate(ids)
    ]
    indicators = [
        {"id": f"x/{c}", "index": k, "name": c, "code": c, "unit": "u"} for k, c in enumerate(codes)
    ]
    demand_id = "2012_US_Production_Domestic"
    files = {
        "sectors.json": sectors,
        "indicators.json": indicators,
        "demands.json": [
            {
                "id": demand_id,
                "year": 2012,
                "type": "Production",
                "system": "Domestic",
                "location": "US",
            }
        ],
        f"demands/{demand_id}.json": [
            {"sector": s, "amount": float(v)} for s, v in zip(ids, y, strict=True)
        ],
        "matrix/A_d.json": A.tolist(),
        "matrix/A.json": A.tolist(),
        "matrix/D.json": np.asarray(D, dtype=float).tolist(),
    }
    if isinstance(q, str) and q == "auto":
        q = np.linalg.solve(np.eye(A.shape[0]) - A, y) if A.shape[0] == A.shape[1] else None
    if q is not None:
        files["matrix/q.json"] = [[float(v)] for v in q]
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content).replace("NaN", "NaN"))
    return folder


def _satellite_io(layout: str, seed: int = 0):
    import pymrio

    io = pymrio.load_test()
    io.rename_regions(COUNTRIES)
    io.calc_all()
    cols = io.x.index
    rng = np.random.default_rng(seed)
    for name in list(io.get_extensions()):
        delattr(io, name)

    def extension(name, rows, units):
        F = pd.DataFrame(
            rng.uniform(1, 10, (len(rows), len(cols))),
            index=pd.Index(rows, name="stressor"),
            columns=cols,
        )
        unit = pd.DataFrame({"unit": units}, index=F.index)
        setattr(io, name, pymrio.Extension(name=name, F=F, unit=unit))

    if layout == "v3.8":
        extension("satellite", GASES_V38, UNITS_V38)
        extension("impacts", ["GHG emissions (GWP100)", "Employment"], ["kg CO2 eq", "1000 p"])
    else:
        gas_rows = [(r, u) for r, u in zip(GASES_V38, UNITS_V38, strict=True) if u == "kg"]
        extension("air_emissions", [r for r, _ in gas_rows], [u for _, u in gas_rows])
        extension(
            "employment",
            ["Employment hours: Low-skilled male"]
            + EMPLOYMENT_ROWS
            + ["Employment: Vulnerable employment"],
            ["M.hr", "1000 p", "1000 p", "1000 p"],
        )
        extension("factor_inputs", ["Value Added"], ["M.EUR"])
    io.calc_extensions()
    return io


def write_exiobase(folder: Path, layout: str = "v3.8") -> tuple[Path, object]:
    """A small archive in the Exiobase 3 layout (the pymrio test system with country codes and
    Exiobase-like extension rows); returns the zip path and the system written."""
    import pymrio

    io = _satellite_io(layout)
    target = Path(folder) / f"IOT_test_{layout.replace('.', '')}"
    shutil.rmtree(target, ignore_errors=True)
    io.save_all(target)
    archive = Path(folder) / f"IOT_test_{layout.replace('.', '')}.zip"
    pymrio.archive(target, archive)
    shutil.rmtree(target)
    return archive, io
