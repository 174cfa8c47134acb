"""Scenario grids: a product of named axes (``{"region": [...], "draw": [...]}``) or an explicit
list of scenarios (``[{...}, {...}]``), each scenario a dict of netCDF-storable scalars."""

from __future__ import annotations

import hashlib
import itertools
import json
import numbers
import re

_SAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def _scalar(name: str, value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        return value
    raise TypeError(
        f"grid value {value!r} of {name!r} must be a string or a number (store richer "
        "objects in a table of named specs and sweep over the names)"
    )


def expand(grid) -> tuple[tuple[str, ...], list[dict]]:
    """The dimensions and the scenarios of a grid.

    :param grid: a dict ``name -> values`` (the product of the axes, in order; the result
        has one dimension per name) or a list of dicts (explicit scenarios; one dimension
        ``scenario``).
    :returns: ``(dims, scenarios)``.

    >>> expand({"region": ["a", "b"], "draw": [0, 1]})[1][:2]
    [{'region': 'a', 'draw': 0}, {'region': 'a', 'draw': 1}]
    >>> expand([{"n": 3}, {"n": 5}])
    (('scenario',), [{'n': 3}, {'n': 5}])
    """
    if isinstance(grid, dict):
        if not grid:
            raise ValueError("the grid is empty: give at least one axis")
        axes = {}
        for name, values in grid.items():
            values = list(values) if not isinstance(values, str | bytes) else [values]
            if not values:
                raise ValueError(f"grid axis {name!r} has no values")
            values = [_scalar(name, v) for v in values]
            if len(set(values)) != len(values):
                raise ValueError(f"grid axis {name!r} has repeated values: {values}")
            axes[str(name)] = values
        names = tuple(axes)
        return names, [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())
        ]
    scenarios = [dict(s) for s in grid]
    if not scenarios:
        raise ValueError("the grid has no scenarios")
    for s in scenarios:
        for name, value in s.items():
            s[name] = _scalar(name, value)
    keys = [key(s) for s in scenarios]
    if len(set(keys)) != len(keys):
        raise ValueError("the grid lists the same scenario twice")
    return ("scenario",), scenarios


def key(params: dict) -> str:
    """A stable file-name key of a scenario (readable prefix plus a hash of its values).

    >>> key({"region": "reg1", "draw": 0})
    'region=reg1_draw=0-...'
    """
    text = json.dumps(params, sort_keys=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:10]
    readable = _SAFE.sub("_", "_".join(f"{k}={v}" for k, v in params.items()))[:60]
    return f"{readable}-{digest}"
