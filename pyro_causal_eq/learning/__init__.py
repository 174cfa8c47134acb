"""Learning cyclic SCMs from interventional data, and robust intervention design.

:class:`CyclicSCM` is a Pyro model of ``x = f(x) + u`` (linear or ``tanh``) scored exactly
(change of variables through the equilibrium) in several :class:`Environment` s; :func:`fit`
learns it by MAP, SVI or NUTS; :func:`auroc` / :func:`shd` score the recovered structure;
:func:`robust_design` designs an intervention over posterior draws.
"""

from .design import DesignResult, evaluate_design, robust_design
from .environments import Environment
from .fit import FitResult, fit
from .metrics import auroc, shd
from .scm import CyclicSCM

__all__ = [
    "CyclicSCM",
    "DesignResult",
    "Environment",
    "FitResult",
    "auroc",
    "evaluate_design",
    "fit",
    "robust_design",
    "shd",
]
