"""Low-level simulators for targeted causal reduction, written as Pyro models.

Shift interventions are applied with :func:`pyro_causal_eq.do` and
:class:`pyro_causal_eq.Shift` on the models' sample sites; ``simulate(n_interventions,
n_samples, seed)`` returns a seeded, vectorized
:class:`InterventionalData` (defined here, in :mod:`.data`, with its moments
:class:`InterventionStatistics`; :mod:`pyro_causal_eq.reduction` re-exports both).

- :class:`LinearGaussianSCM`: ``X = A X + U + i`` (random DAG, chain, star, two-branch), with the
  analytic solution of Proposition 3.3;
- :class:`DoubleWell`: a ball in ``V(x) = x⁴ − 4x²`` with friction, velocity shifts and
  intrinsic noise (paper App. F.1);
- :class:`PointMasses`: the Euler scheme of point masses under external forces (App. A.2), whose
  exact reduction (total momentum, summed forces) is known;
- :class:`LeontiefEconomy`: an input-output economy at equilibrium (``pce.equilibrate``) with
  shifts on final demand and total emissions as target.
"""

from .analytic import linear_gaussian_solution
from .base import ShiftSimulator
from .data import InterventionalData, data_model
from .double_well import DoubleWell
from .leontief import LeontiefEconomy
from .linear_gaussian import LinearGaussianSCM
from .point_masses import PointMasses
from .statistics import InterventionStatistics

__all__ = [
    "DoubleWell",
    "InterventionStatistics",
    "InterventionalData",
    "LeontiefEconomy",
    "LinearGaussianSCM",
    "PointMasses",
    "ShiftSimulator",
    "data_model",
    "linear_gaussian_solution",
]
