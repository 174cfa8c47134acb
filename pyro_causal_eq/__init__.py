"""pyro_causal_eq: soft interventions in cyclic causal models at equilibrium, and targeted
causal reduction, as a Pyro plugin."""

from .errors import EquilibriumError
from .graph import causal_graph
from .groups import SO, Affine, LieGroupElement, Scale, Shift
from .handlers import Anderson, EquilibriumSolver, Newton, Picard, do
from .interventions import Replace
from .ops import equilibrate
from .optimize import Learnable, OptimizeResult, optimize

__version__ = "0.1.0"

# Applications load on first access (``pce.economics`` pulls in pandas, pymrio and
# matplotlib), so ``import pyro_causal_eq`` stays as light as the core. ``pce.sweep`` is a
# callable module: ``pce.sweep(fn, grid, ...)`` runs a scenario sweep.
_SUBPACKAGES = (
    "distributions",
    "economics",
    "invariance",
    "learning",
    "reduction",
    "simulators",
    "sweep",
)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBPACKAGES))


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
    *_SUBPACKAGES,
    "do",
    "equilibrate",
    "optimize",
]
