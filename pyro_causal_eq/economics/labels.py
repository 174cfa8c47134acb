"""Human names and units of indicators for tables, plots and the CLI (``GHG`` -> "Greenhouse
gas emissions (kg CO2-eq)", ``factor_inputs/Value Added`` -> "Value added (million USD)")."""

from __future__ import annotations

import re

#: known indicator codes (USEEIO, Exiobase composites) -> readable name
NAMES = {
    "GHG": "Greenhouse gas emissions",
    "JOBS": "Employment",
    "employment": "Employment",
    "VADD": "Value added",
    "ENRG": "Energy use",
    "WATR": "Water use",
    "LAND": "Land use",
}
_UNITS = {"$": "USD", "mill usd": "million USD", "m.eur": "million EUR", "meur": "million EUR"}


def readable_unit(unit: str | None) -> str:
    """A unit as people write it: ``kg CO2 eq`` -> ``kg CO2-eq``, ``$`` -> ``USD``.

    >>> readable_unit("kg CO2 eq"), readable_unit("$"), readable_unit("Mill USD")
    ('kg CO2-eq', 'USD', 'million USD')
    """
    unit = (unit or "").strip()
    if unit.lower() in _UNITS:
        return _UNITS[unit.lower()]
    return re.sub(r"\s+eq\b", "-eq", unit)


def readable_name(name: str) -> str:
    """A readable indicator name from a code or a pymrio row path.

    >>> readable_name("GHG"), readable_name("factor_inputs/Value Added")
    ('Greenhouse gas emissions', 'Value added')
    >>> readable_name("emissions/emission_type1/air")
    'Emission type1 (air)'
    """
    if name in NAMES:
        return NAMES[name]
    parts = [p for p in str(name).split("/") if p]
    if len(parts) > 1:
        parts = parts[1:]  # drop the extension name
    head = parts[0].replace("_", " ").strip()
    head = head[:1].upper() + head[1:].lower() if head.isupper() is False else head
    return head + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def indicator_label(name: str, units: dict | None = None) -> str:
    """``"<readable name> (<unit>)"`` (no parentheses without a unit).

    >>> indicator_label("GHG", {"GHG": "kg CO2 eq"})
    'Greenhouse gas emissions (kg CO2-eq)'
    """
    unit = readable_unit((units or {}).get(name))
    return f"{readable_name(name)} ({unit})" if unit else readable_name(name)
