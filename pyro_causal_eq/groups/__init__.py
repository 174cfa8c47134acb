"""Lie groups whose elements act on structural assignments (soft interventions)."""

from .affine import Affine
from .base import LieGroupElement
from .rotation import SO
from .scale import Scale
from .shift import Shift
from .transform import GroupActionTransform

__all__ = ["SO", "Affine", "GroupActionTransform", "LieGroupElement", "Scale", "Shift"]
