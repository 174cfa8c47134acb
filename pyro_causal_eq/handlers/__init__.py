"""Effect handlers: interventions (:func:`do`) and solver configuration."""

from .anderson import Anderson
from .do import DoMessenger, do
from .newton import Newton
from .picard import Picard
from .solver import EquilibriumSolver, default_solver

__all__ = [
    "Anderson",
    "DoMessenger",
    "EquilibriumSolver",
    "Newton",
    "Picard",
    "default_solver",
    "do",
]
