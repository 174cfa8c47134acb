"""Distributions of cyclic SCMs with exogenous noise: the equilibrium pushforward."""

from ..internals.logdet import Hutchinson
from .equilibrium import EXACT_LOGDET_MAX_SIZE, EquilibriumDistribution
from .partial import PartialNoise
from .shapes import node_noise

__all__ = [
    "EXACT_LOGDET_MAX_SIZE",
    "EquilibriumDistribution",
    "Hutchinson",
    "PartialNoise",
    "node_noise",
]
