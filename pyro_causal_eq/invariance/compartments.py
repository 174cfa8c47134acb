"""Compartmentalized interventions (paper Definition 5, Proposition 4, Fig. 5)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..graph import causal_graph
from .learn import learn_jointly
from .nodes import NodeRef
from .options import InvariantOptions, merge_legacy
from .parameters import Parameters, reference_parameters, with_parameters
from .partition import CompartmentReport, check_compartments
from .result import InvariantIntervention
from .training import node_value, run_trace


@dataclass
class Compartment:
    """One compartment and its invariant intervention.

    :param nodes: the compartment's nodes (equilibrium nodes, and optionally sites).
    :param intervention: intervened node -> Lie group element (inside the compartment).
    :param invariant: the invariant node (the one with arrows to other compartments).
    :param auxiliary: the auxiliary node (default: the invariant node).
    :param intervention_range: intervened name -> distribution of Lie-algebra coordinates, to
        learn a mechanism valid for every intervention in the range (needed to vary ``u``).
    :param network: a custom ``torch.nn.Module`` for the replacement mechanism.

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.economics import two_compartment_model
    >>> spec = {
    ...     "1": Compartment(["a1", "b1", "c1"], {"a1": pce.Scale(0.8)}, invariant="b1"),
    ...     "2": Compartment(["a2", "b2", "c2"], {"a2": pce.Scale(1.2)}, invariant="b2")}
    >>> spec["1"].auxiliary is None  # the invariant node b1 is also the auxiliary node
    True
    >>> report = check_compartments(  # Proposition 4 on the model's causal graph
    ...     causal_graph(two_compartment_model),
    ...     {k: c.nodes for k, c in spec.items()}, {k: [c.invariant] for k, c in spec.items()})
    >>> report.holds, report.leaving
    (True, {'b1': ['c2'], 'b2': ['c1']})
    """

    nodes: Sequence[str]
    intervention: Mapping
    invariant: str
    auxiliary: str | None = None
    intervention_range: Mapping | None = None
    network: nn.Module | None = None


@dataclass
class SeparationReport:
    """How much each node moves when each compartment's intervention is varied alone.

    :attr changes: node -> intervened name -> max relative change over the tested values.
    :attr owner: node -> its compartment.
    :attr intervention_owner: intervened name -> its compartment.
    :attr cross: the largest change of a node caused by another compartment's intervention.

    Returned by :meth:`CompartmentalizedIntervention.separation`; for illustration, by hand:

    >>> report = SeparationReport(
    ...     changes={"a1": {"a1": 0.13, "a2": 0.0}, "c2": {"a1": 2e-4, "a2": 0.03}},
    ...     owner={"a1": "1", "c2": "2"}, intervention_owner={"a1": "1", "a2": "2"})
    >>> report.cross  # c2 (compartment 2) moved by a1 (compartment 1)
    0.0002
    >>> report.holds(), report.holds(tol=1e-4)
    (True, False)
    """

    changes: dict[str, dict[str, float]]
    owner: dict[str, str]
    intervention_owner: dict[str, str]

    @property
    def cross(self) -> float:
        """The largest change of a node caused by another compartment's intervention."""
        values = [
            change
            for node, row in self.changes.items()
            for name, change in row.items()
            if self.intervention_owner[name] != self.owner[node]
        ]
        return max(values, default=0.0)

    def holds(self, tol: float = 1e-3) -> bool:
        """No compartment moves by more than ``tol`` under another compartment's intervention.

        :param tol: largest accepted relative :attr:`cross` change.
        """
        return self.cross <= tol


@dataclass(frozen=True, eq=False)
class CompartmentalizedIntervention(InvariantIntervention):
    """Jointly trained invariant interventions, one per compartment (Definition 5).

    Returned by :func:`learn_compartmentalized_interventions`; it is an
    :class:`~pyro_causal_eq.invariance.InvariantIntervention` (``handler``, ``evaluate``,
    ``invariance_error``) with the compartments and a :meth:`separation` check.

    :attr compartments: name -> :class:`Compartment`.
    :attr condition: the Proposition 4 report on the causal graph.

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.economics import two_compartment_model
    >>> U, R = torch.distributions.Uniform(0.8, 1.2), torch.distributions.Uniform(-0.3, 0.3)
    >>> spec = {  # intervention_range: the mechanisms accept other Scale factors too
    ...     "1": Compartment(["a1", "b1", "c1"], {"a1": pce.Scale(0.8)}, "b1", None, {"a1": R}),
    ...     "2": Compartment(["a2", "b2", "c2"], {"a2": pce.Scale(1.2)}, "b2", None, {"a2": R})}
    >>> from pyro_causal_eq.invariance import InvariantOptions
    >>> options = InvariantOptions(hidden=(2,), num_train=4, num_test=2, lm_steps=0, check=False)
    >>> result = learn_compartmentalized_interventions(  # no training steps, to stay fast
    ...     two_compartment_model, spec, {"demand1": U, "demand2": U}, steps=0, options=options)
    >>> sorted(result.compartments), result.condition.holds
    (['1', '2'], True)
    >>> values = {"demand1": torch.tensor([0.9, 1.1]), "demand2": torch.tensor([1.0, 1.0])}
    >>> sep = result.separation(values, {"a1": [pce.Scale(0.9)], "a2": [pce.Scale(1.1)]})
    >>> sep.changes["a1"]["a1"] > 0, sep.cross, sep.holds()  # no leak across compartments
    (True, 0.0, True)
    """

    compartments: dict[str, Compartment] = field(default_factory=dict)
    condition: CompartmentReport | None = None

    def separation(
        self,
        values: Mapping[str, torch.Tensor],
        grid: Mapping[str, Sequence],
    ) -> SeparationReport:
        """Vary each intervention alone over ``grid`` (the others at their trained value) and
        measure every node's max relative change (Fig. 5).

        :param values: parameter values (batched draws) at which to test.
        :param grid: intervened name -> group elements to try.
        """
        owner = {n: k for k, c in self.compartments.items() for n in c.nodes}
        intervention_owner = {
            name: k for k, c in self.compartments.items() for name in c.intervention
        }
        unknown = set(grid) - set(intervention_owner)
        if unknown:
            raise KeyError(f"grid for unknown intervention(s) {sorted(unknown)}")
        nodes = [n for n in owner if n in self.components[0].triplet.system.mechanisms]
        with torch.no_grad():
            base = run_trace(self.model, values, self.args, self.kwargs, self.components)
        changes: dict[str, dict[str, float]] = {n: {} for n in nodes}
        for name, elements in grid.items():
            for element in elements:
                with torch.no_grad():
                    out = run_trace(
                        self.model,
                        values,
                        self.args,
                        self.kwargs,
                        self.components,
                        self._elements({name: element}),
                    )
                for node in nodes:
                    ref, new = node_value(base, node), node_value(out, node)
                    rel = float(((new - ref).abs() / ref.abs().clamp_min(1e-300)).max())
                    changes[node][name] = max(changes[node].get(name, 0.0), rel)
        return SeparationReport(changes, owner, intervention_owner)


def learn_compartmentalized_interventions(
    model: Callable,
    compartments: Mapping[str, Compartment],
    parameters: Parameters,
    *,
    args: Sequence = (),
    kwargs: Mapping | None = None,
    steps: int = 200,
    lr: float = 1e-2,
    seed: int | None = 0,
    progress=False,
    options: InvariantOptions | None = None,
    strict: bool = True,
    **legacy_options,
) -> CompartmentalizedIntervention:
    """Learn one invariant intervention per compartment, jointly (Proposition 4).

    The partition must satisfy the Proposition 4 condition on the model's causal graph
    (:func:`~pyro_causal_eq.causal_graph`): each compartment's intervened, auxiliary and
    invariant nodes lie in it, and every node with an arrow into another compartment is its
    compartment's invariant node. All mechanisms are trained together, each invariant node
    read at its unintervened value by the other nodes.

    :param model: the Pyro model (batched parameters).
    :param compartments: name -> :class:`Compartment`.
    :param parameters: free parameters (see :func:`learn_invariant_intervention`).
    :param args: positional model arguments.
    :param kwargs: fixed keyword model arguments.
    :param steps: Adam steps.
    :param lr: Adam learning rate.
    :param seed: seed of the draws and the networks (``None``: not reseeded).
    :param progress: ``True`` for a tqdm bar, or a bar to advance.
    :param options: an :class:`~pyro_causal_eq.invariance.InvariantOptions` (its
        ``intervention_range`` and ``network`` must stay unset: each :class:`Compartment`
        carries its own).
    :param strict: raise (default) rather than warn when the Proposition 4 condition fails.
    :param legacy_options: deprecated: the fields of ``InvariantOptions`` as keywords.
    :returns: a :class:`CompartmentalizedIntervention`.

    >>> from pyro_causal_eq.economics.compartments import two_compartment_model
    >>> import pyro_causal_eq as pce
    >>> U = torch.distributions.Uniform(0.8, 1.2)
    >>> spec = {
    ...     "1": Compartment(["a1", "b1", "c1"], {"a1": pce.Scale(0.8)}, "b1"),
    ...     "2": Compartment(["a2", "b2", "c2"], {"a2": pce.Scale(1.2)}, "b2")}
    >>> from pyro_causal_eq.invariance import InvariantOptions
    >>> options = InvariantOptions(hidden=(6,), num_train=32, num_test=16, lm_steps=15, check=False)
    >>> result = learn_compartmentalized_interventions(
    ...     two_compartment_model, spec, {"demand1": U, "demand2": U}, steps=0, options=options)
    >>> result.invariance_error < 1e-2
    True
    """
    options = merge_legacy(options, legacy_options, "learn_compartmentalized_interventions")
    if options.intervention_range is not None or options.network is not None:
        raise ValueError("options.intervention_range / options.network: set them per Compartment")
    if not isinstance(compartments, Mapping) or not compartments:
        raise TypeError("compartments must be a non-empty dict name -> Compartment")
    for name, compartment in compartments.items():
        if not isinstance(compartment, Compartment):
            raise TypeError(f"compartment {name!r} must be a Compartment, got {compartment!r}")
    ref = reference_parameters(parameters, options.reference)
    graph = causal_graph(lambda: with_parameters(model, ref, args, kwargs))
    invariant = {k: [NodeRef.parse(c.invariant).node] for k, c in compartments.items()}
    roles = {
        k: list(c.intervention) + [NodeRef.parse(c.auxiliary or c.invariant).node]
        for k, c in compartments.items()
    }
    partition = {k: list(c.nodes) for k, c in compartments.items()}
    condition = check_compartments(graph, partition, invariant, roles)
    if not condition.holds:
        if strict:
            raise ValueError(condition.explain())
        warnings.warn(condition.explain(), stacklevel=2)
    specs = [
        (c.intervention, c.invariant, c.auxiliary, c.intervention_range, c.network)
        for c in compartments.values()
    ]
    result = learn_jointly(
        model,
        specs,
        parameters,
        args=args,
        kwargs=kwargs,
        steps=steps,
        lr=lr,
        seed=seed,
        progress=progress,
        options=options,
        graph=graph,
    )
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return CompartmentalizedIntervention(
        **fields, compartments=dict(compartments), condition=condition
    )
