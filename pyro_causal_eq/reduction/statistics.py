"""Compatibility: the per-intervention moments moved below the simulators.

:class:`InterventionStatistics` (the sample moments of an interventional data set) and
:func:`check_target_not_shifted` live in :mod:`pyro_causal_eq.simulators.statistics`; they are
re-exported here unchanged.
"""

from ..simulators.statistics import InterventionStatistics, check_target_not_shifted

__all__ = ["InterventionStatistics", "check_target_not_shifted"]
