"""Invariant and compartmentalized soft interventions (Besserve & Schölkopf, Sec. 3.3-3.4, 4).

- :func:`learn_invariant_intervention`: learn a soft intervention on an auxiliary node that
  keeps an invariant node at its unintervened equilibrium under a Lie intervention, over a
  range of model parameters; returns an :class:`InvariantIntervention` (the trained mechanism,
  its held-out invariance error, handlers to run the intervened system); network, draws and
  polishing are set by :class:`InvariantOptions`.
- :func:`check_proposition3`: the sufficient condition of Proposition 3 at a reference point.
- :func:`check_compartments`: the compartment condition of Proposition 4 on a causal graph.
- :func:`learn_compartmentalized_interventions`: one invariant intervention per compartment,
  trained jointly, with :meth:`CompartmentalizedIntervention.separation` to verify that each
  compartment depends only on its own intervention.
- Messengers: :class:`ReplaceElement` (replace one element of a vector node's mechanism) and
  :class:`InvariantReads` (other nodes read the invariant node's unintervened value).

Nodes are named ``"z"`` (whole node) or ``"y[0]"`` / ``("y", 0)`` (one element of a vector
node).
"""

from .compartments import (
    Compartment,
    CompartmentalizedIntervention,
    SeparationReport,
    learn_compartmentalized_interventions,
)
from .conditions import Proposition3Report, check_proposition3
from .learn import learn_invariant_intervention
from .mechanism import InvariantMechanism
from .nodes import NodeRef
from .options import InvariantOptions
from .partition import CompartmentReport, check_compartments
from .result import InvariantIntervention
from .rewire import InvariantReads, ReplaceElement

__all__ = [
    "Compartment",
    "CompartmentReport",
    "CompartmentalizedIntervention",
    "InvariantIntervention",
    "InvariantMechanism",
    "InvariantOptions",
    "InvariantReads",
    "NodeRef",
    "Proposition3Report",
    "ReplaceElement",
    "SeparationReport",
    "check_compartments",
    "check_proposition3",
    "learn_compartmentalized_interventions",
    "learn_invariant_intervention",
]


def __getattr__(name: str):
    if name == "mlp":  # an implementation detail, no longer exported
        from ..internals.convention import deprecated
        from .mechanism import mlp

        deprecated("pyro_causal_eq.invariance.mlp", "pyro_causal_eq.invariance.mechanism.mlp")
        return mlp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
