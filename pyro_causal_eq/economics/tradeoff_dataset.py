"""The :func:`~pyro_causal_eq.economics.tradeoff` result as an ``xarray.Dataset``: totals,
relative changes, objective, certificate, readable names and units of the indicators."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .labels import indicator_label, readable_name, readable_unit


def tradeoff_dataset(
    io, objective, lams, out, method, target, bounds, branches, lambda_grid
) -> xr.Dataset:
    c, eps = objective.c, objective.eps
    x = out["x"]
    ghg, social = x @ c, x @ eps
    deviation = np.abs(eps * (x - objective.x0)).sum(axis=1)
    scale = np.maximum(np.abs(out["optimum"]), 1e-300)
    dims = ("lam", "sector")
    coords = {"lam": lams, "sector": io.sectors, "sector_name": ("sector", io.sector_names)}
    units = io.units
    ds = xr.Dataset(
        {
            "alpha": (dims, out["alpha"], {"long_name": "intervention factor"}),
            "x": (dims, x, {"long_name": "output", "units": io.output_unit}),
            "social_sector": (dims, eps * x, {"units": units.get(objective.social, "")}),
            "ghg": (
                "lam",
                ghg,
                {
                    "long_name": readable_name(objective.ghg),
                    "units": readable_unit(units.get(objective.ghg, "")),
                    "indicator": objective.ghg,
                },
            ),
            "social": (
                "lam",
                social,
                {
                    "long_name": readable_name(objective.social),
                    "units": readable_unit(units.get(objective.social, "")),
                    "indicator": objective.social,
                },
            ),
            "ghg_change": ("lam", ghg / objective.ghg0 - 1.0, {"long_name": "relative change"}),
            "social_change": (
                "lam",
                social / objective.social0 - 1.0,
                {"long_name": "relative change"},
            ),
            "social_deviation": ("lam", deviation, {"long_name": "||e - e*||_1"}),
            "objective": ("lam", out["objective"]),
            "optimum": ("lam", out["optimum"], {"long_name": "LP optimum, NaN if none"}),
            "bound": (
                "lam",
                out["bound"],
                {"long_name": "lower bound over all cone patterns (-inf: not computed)"},
            ),
            "optimality_gap": ("lam", (out["objective"] - out["optimum"]) / scale),
            "stationarity": (
                "lam",
                out["stationarity"],
                {"long_name": "relative projected-subgradient norm"},
            ),
            "time": ("lam", out["time"], {"units": "s"}),
            "x0": ("sector", objective.x0),
            "social0_sector": ("sector", objective.e0),
        },
        coords=coords,
        attrs={
            "model": io.name,
            "ghg_indicator": objective.ghg,
            "social_indicator": objective.social,
            "ghg_label": indicator_label(objective.ghg, units),
            "social_label": indicator_label(objective.social, units),
            "lambda_grid": lambda_grid,
            "penalty": objective.penalty,
            "target": target,
            "method": method,
            "branches": branches if method == "exact" else "",
            "bounds": list(map(float, bounds)),
            "ghg0": objective.ghg0,
            "social0": objective.social0,
        },
    )
    return ds
