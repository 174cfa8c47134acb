"""Input-output economics: Leontief models from pymrio, USEEIO and Exiobase tables, their
interventions, the GHG / employment trade-off design, and uncertainty propagation.

Main names: :class:`IOModel` (``from_pymrio``, ``from_useeio``, ``from_exiobase``,
``model()``), :func:`tradeoff` (λ sweep -> :class:`TradeoffResult`), :func:`sweep` (trade-offs
over tables x regions x draws, serial or on dask.distributed), the outputs
(:func:`write_netcdf`, :func:`write_csv`, :func:`pareto_plot`, :func:`sector_table`) and
:func:`propagate_uncertainty` / :func:`uncertainty_summary` / :func:`hdi_plot` (ArviZ, imported
on first use).
"""

from .compartments import two_compartment_model
from .interventions import (
    assignment_actions,
    bounded_factor,
    coefficient_actions,
    demand_actions,
)
from .io_model import IOModel
from .objective import TradeoffObjective
from .outputs import pareto_plot, sector_table, write_csv, write_netcdf
from .rebound import rebound_model
from .sweep import sweep
from .tradeoff import tradeoff
from .tradeoff_result import TradeoffResult
from .validation import IOTableError

_UNCERTAINTY = ("propagate_uncertainty", "uncertainty_summary", "hdi_plot")


def __getattr__(name: str):
    if name in _UNCERTAINTY:  # ArviZ is slow to import: load it on first use
        from . import uncertainty

        return getattr(uncertainty, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "IOModel",
    "IOTableError",
    "TradeoffObjective",
    "TradeoffResult",
    "assignment_actions",
    "bounded_factor",
    "coefficient_actions",
    "demand_actions",
    "hdi_plot",
    "pareto_plot",
    "propagate_uncertainty",
    "rebound_model",
    "two_compartment_model",
    "sector_table",
    "sweep",
    "tradeoff",
    "uncertainty_summary",
    "write_csv",
    "write_netcdf",
]
