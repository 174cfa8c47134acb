"""Compatibility: the TCR data set moved below the simulators.

:class:`InterventionalData`, :func:`data_model` and their helpers live in
:mod:`pyro_causal_eq.simulators.data` (simulators produce data sets and must not import
from :mod:`pyro_causal_eq.reduction`); they are re-exported here unchanged.
"""

from ..internals.convention import seeded  # the one seeding helper of the package
from ..simulators.data import (
    INTERVENTION_SITE,
    X_SITE,
    Y_SITE,
    InterventionalData,
    data_model,
    observe,
)

__all__ = [
    "INTERVENTION_SITE",
    "X_SITE",
    "Y_SITE",
    "InterventionalData",
    "data_model",
    "observe",
    "seeded",
]
