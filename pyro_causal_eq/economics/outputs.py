"""Trade-off results on disk and on paper: atomic netCDF / CSV, the Pareto plot (paper
Fig. 3b-c layout), and the table of sectors with the largest employment reduction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..internals.atomic import atomic_write


def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write the trade-off dataset as netCDF, atomically.

    :param ds: a :func:`~pyro_causal_eq.economics.tradeoff` dataset.
    :param path: the ``.nc`` file.
    :returns: the path written.

    >>> import pymrio
    >>> from pyro_causal_eq.economics import IOModel, tradeoff
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> ds = tradeoff(io, [10.0, 100.0]).to_xarray()
    >>> import tempfile, xarray
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_netcdf(ds, f"{tmp}/t.nc")
    ...     xarray.load_dataset(path).sizes["lam"]
    2
    """
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp))


def summary_frame(ds: xr.Dataset) -> pd.DataFrame:
    """One row per ``λ``: totals, relative changes, objective, optimum, gap, time.

    :param ds: a :func:`~pyro_causal_eq.economics.tradeoff` dataset.
    """
    names = [
        "ghg",
        "social",
        "ghg_change",
        "social_change",
        "social_deviation",
        "objective",
        "optimum",
        "optimality_gap",
        "stationarity",
        "time",
    ]
    return ds[[n for n in names if n in ds]].to_dataframe()


def write_csv(ds: xr.Dataset, path, alpha_path=None) -> list[Path]:
    """Write the per-``λ`` summary (and optionally the factors, ``λ`` x sector) as CSV.

    :param ds: a :func:`~pyro_causal_eq.economics.tradeoff` dataset.
    :param path: the summary CSV (one row per ``λ``: :func:`summary_frame`).
    :param alpha_path: optional CSV of the factors.
    :returns: the paths written.

    >>> import pymrio
    >>> from pyro_causal_eq.economics import IOModel, tradeoff
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> ds = tradeoff(io, [10.0, 100.0]).to_xarray()
    >>> import tempfile, pandas
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = write_csv(ds, f"{tmp}/s.csv", f"{tmp}/a.csv")
    ...     pandas.read_csv(f"{tmp}/a.csv", index_col=0).shape
    (2, 8)
    """
    written = [atomic_write(path, lambda tmp: summary_frame(ds).to_csv(tmp))]
    if alpha_path is not None:
        frame = ds["alpha"].to_pandas()
        written.append(atomic_write(alpha_path, lambda tmp: frame.to_csv(tmp)))
    return written


def chosen_lambda(ds: xr.Dataset, social_change: float = -0.05) -> float:
    """The ``λ`` whose social (employment) change is closest to ``social_change`` (the
    paper's cross at a 5 % employment reduction).

    :param ds: a :func:`~pyro_causal_eq.economics.tradeoff` dataset.
    :param social_change: the relative change sought.
    """
    index = int(np.nanargmin(np.abs(ds["social_change"].values - social_change)))
    return float(ds["lam"].values[index])


def sector_table(ds: xr.Dataset, lam: float | None = None, top: int = 10) -> pd.DataFrame:
    """Sectors with the largest employment reduction at ``λ`` (default: :func:`chosen_lambda`).

    Columns: baseline and intervened social indicator per sector, absolute and relative change,
    the factor ``α``.

    :param ds: a :func:`~pyro_causal_eq.economics.tradeoff` dataset.
    :param lam: the ``λ`` (nearest in the sweep).
    :param top: number of rows.

    >>> import pymrio
    >>> from pyro_causal_eq.economics import IOModel, tradeoff
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> ds = tradeoff(io, [10.0, 100.0]).to_xarray()
    >>> table = sector_table(ds, lam=100.0, top=3)
    >>> list(table.columns)[:3], len(table), bool((table.change <= 0).all())
    (['sector', 'name', 'baseline'], 3, True)
    """
    lam = chosen_lambda(ds) if lam is None else float(lam)
    at = ds.sel(lam=lam, method="nearest")
    base, new = ds["social0_sector"].values, at["social_sector"].values
    frame = pd.DataFrame(
        {
            "sector": ds["sector"].values,
            "name": ds["sector_name"].values if "sector_name" in ds.coords else ds["sector"].values,
            "baseline": base,
            "intervened": new,
            "change": new - base,
            "relative_change": np.divide(
                new - base, base, out=np.zeros_like(base), where=base != 0
            ),
            "alpha": at["alpha"].values,
        }
    )
    frame = frame.sort_values("change").head(top).reset_index(drop=True)
    frame.attrs["lam"] = float(at["lam"])
    return frame


def pareto_plot(ds: xr.Dataset, path=None, *, ax=None, mark: float | None = -0.05, label=None):
    """GHG reduction vs employment change over the ``λ`` sweep (Fig. 3b-c layout: x axis
    relative employment change in %, y axis relative GHG reduction in %, points annotated by
    ``λ``); a dashed line marks ``mark`` employment change and a cross the chosen ``λ``.

    :param ds: a :func:`~pyro_causal_eq.economics.tradeoff` dataset.
    :param path: save the figure there (atomically) when given.
    :param ax: draw into these axes.
    :param mark: employment change marked by a dashed line and a cross (``None``: none).
    :param label: legend label (default: the model name).
    :returns: the matplotlib axes.

    >>> import pymrio
    >>> from pyro_causal_eq.economics import IOModel, tradeoff
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> ds = tradeoff(io, [10.0, 100.0]).to_xarray()
    >>> ax = pareto_plot(ds, mark=None)
    >>> ax.get_xlabel()
    'Value added change (%)'
    """
    import matplotlib

    if ax is None and path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.0))
    social = 100 * ds["social_change"].values
    reduction = -100 * ds["ghg_change"].values
    order = np.argsort(social)
    ax.plot(social[order], reduction[order], "o-", label=label or ds.attrs.get("model", ""))
    if mark is not None:
        ax.axvline(100 * mark, ls="--", color="gray", lw=1)
        lam = chosen_lambda(ds, mark)
        at = ds.sel(lam=lam)
        ax.plot(
            100 * float(at.social_change),
            -100 * float(at.ghg_change),
            "kx",
            ms=10,
            label=f"λ = {lam:.3g}",
        )
    social_name = ds["social"].attrs.get("long_name") or ds.attrs.get("social_indicator", "")
    ghg_name = ds["ghg"].attrs.get("long_name") or ds.attrs.get("ghg_indicator", "GHG")
    ax.set_xlabel(f"{social_name} change (%)")
    ax.set_ylabel(f"{ghg_name} reduction (%)")
    title = f"{ghg_name} / {social_name} trade-off"
    if mark is not None:
        title += f"\n× = the λ closest to a {100 * mark:+.0f} % {social_name.lower()} change"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        fig = ax.figure
        fmt = Path(path).suffix.lstrip(".") or "png"
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight"))
    return ax
