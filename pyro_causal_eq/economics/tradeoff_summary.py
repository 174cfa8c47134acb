"""Readable text of trade-off results: clean numbers (no ``2.405e-302`` for a zero) and a
compact table of a sweep."""

from __future__ import annotations

import numpy as np
import xarray as xr


def clean_number(value: float, tiny: float = 1e-12) -> str:
    """``value`` with 4 significant digits; ``0`` below ``tiny`` in absolute value.

    >>> clean_number(2.405e-302), clean_number(-0.0512345), clean_number(12345.6)
    ('0', '-0.05123', '1.235e+04')
    """
    value = float(value)
    if np.isnan(value):
        return "nan"
    if abs(value) < tiny:
        return "0"
    return f"{value:.4g}"


def clean_frame(frame, rtol: float = 1e-12):
    """Float columns with entries below ``rtol`` times the column's largest magnitude set to
    exactly 0 (rounding noise such as ``5.8e-11`` next to ``7e+04``).

    >>> import pandas as pd
    >>> clean_frame(pd.DataFrame({"v": [7e4, 5.8e-11, -2.0]})).v.tolist()
    [70000.0, 0.0, -2.0]
    """
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f":
            scale = float(np.nanmax(np.abs(values.to_numpy()))) if len(values) else 0.0
            frame[column] = values.where(~(np.abs(values) <= rtol * scale), 0.0)
    return frame


def format_sweep(ds: xr.Dataset) -> str:
    """GHG and social change (%) per scenario, region and draw at every ``λ`` of a sweep.

    :param ds: a :func:`~pyro_causal_eq.economics.sweep` dataset.
    """
    frame = (100 * ds[["ghg_change", "social_change"]]).to_dataframe()
    frame = frame[["ghg_change", "social_change"]].rename(
        columns={"ghg_change": "GHG change (%)", "social_change": "social change (%)"}
    )
    return frame.to_string(float_format=lambda v: clean_number(v, 1e-10))
