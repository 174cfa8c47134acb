"""The result of :func:`~pyro_causal_eq.economics.tradeoff`: a frozen record of the sweep with
``to_xarray()`` (the dataset), ``summary()`` (readable table) and ``explain_choice()``.

For one release the result also behaves like the dataset it replaces (``result["ghg"]``,
``result.sel(lam=...)``, ``result.lam``), with a :class:`DeprecationWarning` pointing to
``to_xarray()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..internals.convention import deprecated
from .tradeoff_summary import clean_number

_OLD = "using the tradeoff result as an xarray.Dataset"
_NEW = "result.to_xarray()"


@dataclass(frozen=True)
class TradeoffResult:
    """A trade-off sweep: one design per ``λ``.

    :param dataset: the sweep as an ``xarray.Dataset`` (dimension ``lam``, and ``sector``).
    :param lambda_grid: how the ``λ`` grid was chosen (also in ``dataset.attrs``).

    >>> import pymrio
    >>> from pyro_causal_eq.economics import IOModel, tradeoff
    >>> result = tradeoff(IOModel.from_pymrio(pymrio.load_test(), region="reg1"), [10.0, 100.0])
    >>> result.to_xarray().sizes["lam"], list(result.summary().columns)[:2]
    (2, ['GHG change (%)', 'social change (%)'])
    """

    dataset: xr.Dataset
    lambda_grid: str = ""

    def to_xarray(self) -> xr.Dataset:
        """The sweep as an ``xarray.Dataset`` (variables ``alpha``, ``x``, ``ghg``, ...)."""
        return self.dataset

    @property
    def lambdas(self) -> np.ndarray:
        """The ``λ`` grid, in the order solved."""
        return self.dataset["lam"].values

    def summary(self) -> pd.DataFrame:
        """One row per ``λ``: GHG and social change (%), totals with their units, objective
        and optimality gap, with clean numbers (rounding noise set to 0)."""
        from .tradeoff_summary import clean_frame

        ds = self.dataset
        ghg, social = ds["ghg"].attrs, ds["social"].attrs
        frame = pd.DataFrame(
            {
                "GHG change (%)": 100 * ds["ghg_change"].values,
                "social change (%)": 100 * ds["social_change"].values,
                _title(ghg): ds["ghg"].values,
                _title(social): ds["social"].values,
                "objective": ds["objective"].values,
                "optimality gap": ds["optimality_gap"].values,
            },
            index=pd.Index(ds["lam"].values, name="lambda"),
        )
        return clean_frame(frame)

    def explain_choice(self, social_change: float = -0.05) -> str:
        """Which ``λ`` the tables and plots highlight, and why: the ``λ`` whose social change
        is closest to ``social_change`` (the paper's 5 % employment reduction)."""
        ds = self.dataset
        index = int(np.nanargmin(np.abs(ds["social_change"].values - social_change)))
        name = ds["social"].attrs.get("long_name", "social indicator").lower()
        return (
            f"lambda = {clean_number(ds['lam'].values[index])}: the lambda whose {name} change "
            f"({100 * float(ds['social_change'][index]):.3g} %) is closest to "
            f"{100 * social_change:.3g} %; GHG change there "
            f"{100 * float(ds['ghg_change'][index]):.3g} %"
        )

    # ----- deprecated: the result used as the dataset it replaces -----
    def __getitem__(self, key):
        deprecated(_OLD, _NEW)
        return self.dataset[key]

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "dataset":  # copy / pickle protocols
            raise AttributeError(name)
        dataset = object.__getattribute__(self, "dataset")
        if not hasattr(dataset, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        deprecated(_OLD, _NEW)
        return getattr(dataset, name)

    def __contains__(self, key) -> bool:
        deprecated(_OLD, _NEW)
        return key in self.dataset


def _title(attrs: dict) -> str:
    unit = attrs.get("units", "")
    name = attrs.get("long_name", attrs.get("indicator", ""))
    return f"{name} ({unit})" if unit else name
