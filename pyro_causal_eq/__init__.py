"""pyro_causal_eq: soft interventions in cyclic causal models at equilibrium, and targeted
causal reduction, as a Pyro plugin."""

from .errors import EquilibriumError
from .groups import SO, Affine, LieGroupElement, Scale, Shift
from .handlers import Anderson, EquilibriumSolver, Newton, Picard, do
from .interventions import Replace
from .ops import equilibrate

__version__ = "0.1.0"

__all__ = [
    "SO",
    "Affine",
    "Anderson",
    "EquilibriumError",
    "EquilibriumSolver",
    "LieGroupElement",
    "Newton",
    "Picard",
    "Replace",
    "Scale",
    "Shift",
    "do",
    "equilibrate",
]
