"""Loader for Exiobase 3 archives (``pymrio.parse_exiobase3``): one country's domestic block,
GHG as GWP100 of CO2, CH4 and N2O, employment summed over all rows, selected by label."""

from __future__ import annotations

import re
from pathlib import Path

from .io_model import IOModel
from .pymrio_labels import align_system
from .pymrio_loader import extension_rows, from_pymrio

#: GWP100 factors (IPCC AR5, as in Exiobase's "GHG emissions (GWP100)" characterization).
GWP100_AR5 = {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0}
_GAS = re.compile(r"^\s*(CO2|CH4|N2O)\b", re.IGNORECASE)
_EMPLOYMENT = re.compile(r"^\s*employment\b", re.IGNORECASE)
_AIR = re.compile(r"\bair\b", re.IGNORECASE)
_BREAKDOWN = re.compile(r"^\s*employment\s*:.*\b(male|female)\s*$", re.IGNORECASE)


def _row_label(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name


def select_ghg(names, owners, gwp=None, exclude=("impacts",)) -> dict[str, float]:
    """Weights of the GHG rows: CO2 / CH4 / N2O emitted to air, biogenic CO2 excluded.

    Rows are matched by label (``CO2 - combustion - air``, ``CH4 - agriculture - air``, ...;
    the compartment may also be a second index level, ``.../air``), in the extensions other
    than ``exclude`` (characterized impact rows would be counted twice); ``exclude`` is
    ignored when nothing else matches.

    :param names: row names ``"<extension>/<label>"``.
    :param owners: the extension of each row.
    :param gwp: gas -> GWP100 factor (default :data:`GWP100_AR5`).
    :param exclude: extensions skipped unless nothing else matches.

    >>> select_ghg(["e/CO2 - combustion - air", "e/CH4 - agriculture - air",
    ...             "e/CO2 - waste - biogenic - air", "e/CO2 - combustion - water"], ["e"] * 4)
    {'e/CO2 - combustion - air': 1.0, 'e/CH4 - agriculture - air': 28.0}
    """
    gwp = {k.upper(): v for k, v in (gwp or GWP100_AR5).items()}

    def pick(skip):
        weights = {}
        for name, owner in zip(names, owners, strict=True):
            label = _row_label(name)
            match = _GAS.match(label)
            if owner in skip or not match or not _AIR.search(label):
                continue
            if "biogenic" in label.lower():
                continue
            weights[name] = gwp[match.group(1).upper()]
        return weights

    weights = pick(set(exclude)) or pick(set())
    if not weights:
        raise KeyError(
            "no GHG rows (labels starting with CO2, CH4 or N2O, emitted to air) in the "
            f"extensions {sorted(set(owners))}"
        )
    return weights


def select_employment(names, owners, exclude=("impacts",)) -> dict[str, float]:
    """Weights (all 1) of the employment rows in persons, by label: the skill / sex
    breakdown ``Employment: <skill> <male|female>`` when present (Exiobase 3.8 ``satellite``
    and 3.9+ ``employment``), else every ``Employment: ...`` row, else the total ``Employment``
    row. Hours (``Employment hours: ...``) and ``Employment: Vulnerable employment`` (a subset
    of the breakdown, which would be counted twice) are never summed.

    :param names: row names ``"<extension>/<label>"``.
    :param owners: the extension of each row.
    :param exclude: extensions skipped unless nothing else matches.

    >>> select_employment(["s/Employment: Low-skilled male", "s/Employment: High-skilled female",
    ...                    "s/Employment: Vulnerable employment", "s/Employment hours: x male"],
    ...                   ["s"] * 4)
    {'s/Employment: Low-skilled male': 1.0, 's/Employment: High-skilled female': 1.0}
    """

    def pick(skip):
        rows = [
            name
            for name, owner in zip(names, owners, strict=True)
            if owner not in skip
            and _EMPLOYMENT.match(_row_label(name))
            and "hour" not in _row_label(name).lower()
            and "vulnerable" not in _row_label(name).lower()
        ]
        breakdown = [name for name in rows if _BREAKDOWN.match(_row_label(name))]
        detailed = [name for name in rows if ":" in _row_label(name)]
        return breakdown or detailed or rows

    rows = pick(set(exclude)) or pick(set())
    if not rows:
        raise KeyError(
            f"no employment rows (labels starting with 'Employment') in the extensions "
            f"{sorted(set(owners))}"
        )
    return dict.fromkeys(rows, 1.0)


def from_exiobase(
    path,
    country: str,
    *,
    demand: str = "total",
    gwp: dict[str, float] | None = None,
    iosystem=None,
    sparse: bool = False,
) -> IOModel:
    """An :class:`IOModel` of one country of an Exiobase 3 archive (zip or folder).

    Works with the v3.8 layout (one ``satellite`` extension plus ``impacts``) and the v3.9+
    split extensions (``air_emissions``, ``employment``, ``factor_inputs``, ...). Adds the
    composite indicators ``GHG`` (kg CO2-eq, GWP100 of CO2, CH4, N2O) and ``employment``
    (sum of all employment rows in persons), which are the defaults of the trade-off.

    :param path: the archive as downloaded (``IOT_2018_pxp.zip``) or its extracted folder.
    :param country: region code, e.g. ``"FR"``.
    :param demand: see :func:`~pyro_causal_eq.economics.pymrio_loader.from_pymrio`.
    :param gwp: gas -> GWP100 factor (default IPCC AR5: CH4 28, N2O 265).
    :param iosystem: an already parsed system (skips parsing ``path``).
    :param sparse: keep ``A`` as a sparse CSR matrix (sparse LU and LPs downstream).
    :raises FileNotFoundError: when ``path`` does not exist.
    :raises KeyError: unknown country, or GHG / employment rows not found.
    """
    import pymrio

    if iosystem is None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"Exiobase archive {path} does not exist")
        try:
            iosystem = pymrio.parse_exiobase3(path)
        except Exception as error:  # noqa: BLE001 - pymrio raises many kinds
            raise ValueError(f"cannot parse {path} as an Exiobase 3 archive: {error}") from error
    regions = [str(r) for r in iosystem.get_regions()]
    if str(country) not in regions:
        raise KeyError(f"unknown country {country!r}; countries in the archive: {regions}")
    iosystem = align_system(iosystem)  # by (region, sector) labels before calc_x / calc_A
    if iosystem.A is None or iosystem.x is None:
        if iosystem.x is None:
            iosystem.x = pymrio.calc_x(iosystem.Z, iosystem.Y)
        if iosystem.A is None:
            iosystem.A = pymrio.calc_A(iosystem.Z, iosystem.x)
    names, owners, _, units = extension_rows(iosystem)
    ghg = select_ghg(names, owners, gwp)
    employment = select_employment(names, owners)
    employment_units = {units.get(name, "") for name in employment}
    if len(employment_units) > 1:
        raise ValueError(f"employment rows have mixed units {employment_units}")
    extra = {
        "GHG": (ghg, "kg CO2-eq"),
        "employment": (employment, employment_units.pop() if employment_units else ""),
    }
    io = from_pymrio(
        iosystem,
        region=country,
        demand=demand,
        extra_rows=extra,
        ghg="GHG",
        social="employment",
        sparse=sparse,
    )
    io.name = f"Exiobase {country}"
    return io
