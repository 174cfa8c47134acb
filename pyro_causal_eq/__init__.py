"""pyro_causal_eq: soft interventions in cyclic causal models at equilibrium, and targeted
causal reduction, as a Pyro plugin."""

from . import economics, invariance, reduction, simulators
from .errors import EquilibriumError
from .graph import causal_graph
from .groups import SO, Affine, LieGroupElement, Scale, Shift
from .handlers import Anderson, EquilibriumSolver, Newton, Picard, do
from .interventions import Replace
from .ops import equilibrate
from .optimize import Learnable, OptimizeResult, optimize

__version__ = "0.1.0"

__all__ = [
    "SO",
    "Affine",
    "Anderson",
    "EquilibriumError",
    "EquilibriumSolver",
    "Learnable",
    "LieGroupElement",
    "Newton",
    "OptimizeResult",
    "Picard",
    "Replace",
    "Scale",
    "Shift",
    "causal_graph",
    "economics",
    "invariance",
    "reduction",
    "simulators",
    "do",
    "equilibrate",
    "optimize",
]
