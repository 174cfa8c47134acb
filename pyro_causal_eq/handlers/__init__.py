"""Effect handlers: interventions (:func:`do`) and solver configuration.

``DoMessenger`` (:mod:`.do`) and ``default_solver`` (:mod:`.solver`) stay importable from
their modules but are not part of this package's surface.
"""

from .anderson import Anderson
from .do import do
from .newton import Newton
from .picard import Picard
from .solver import EquilibriumSolver

__all__ = ["Anderson", "EquilibriumSolver", "Newton", "Picard", "do"]
