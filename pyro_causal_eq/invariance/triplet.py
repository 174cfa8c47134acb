"""Validation of an (intervention, invariant, auxiliary) triplet (paper Definition 4)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import networkx as nx
import torch

from ..graph import causal_graph
from .nodes import (
    NodeRef,
    SystemInfo,
    check_index,
    element_moves,
    find_system,
    run_recorded,
    site_names,
)
from .parameters import with_parameters


@dataclass
class Triplet:
    """A validated (intervention, invariant, auxiliary) triplet at the reference point."""

    intervention: dict
    invariant: NodeRef
    auxiliary: NodeRef
    system: SystemInfo
    target_event_dims: dict[str, int]


def prepare_triplet(
    model: Callable,
    intervention: Mapping,
    invariant,
    auxiliary,
    reference: Mapping[str, torch.Tensor],
    args=(),
    kwargs=None,
    graph: nx.DiGraph | None = None,
) -> Triplet:
    """Validate a triplet on a reference run; clear errors for unknown names, an auxiliary or
    invariant node equal to an intervened one, and an invariant node not downstream of the
    intervention."""
    if not isinstance(intervention, Mapping) or not intervention:
        raise TypeError("intervention must be a non-empty dict name -> Lie group element")
    invariant = NodeRef.parse(invariant)
    auxiliary = invariant if auxiliary is None else NodeRef.parse(auxiliary)
    if auxiliary.node in intervention:
        raise ValueError(
            f"the auxiliary node {auxiliary.label!r} equals the intervened node "
            f"{auxiliary.node!r}: Definition 4 needs k != i"
        )
    if invariant.node in intervention:
        raise ValueError(
            f"the invariant node {invariant.label!r} equals the intervened node "
            f"{invariant.node!r}: Definition 4 needs j != i"
        )
    trace, systems = run_recorded(lambda: with_parameters(model, reference, args, kwargs))
    sites = site_names(trace)
    nodes = {n: s for s in systems for n in s.mechanisms}
    for name in intervention:
        if name not in nodes and name not in sites:
            raise KeyError(
                f"intervened {name!r} is neither an equilibrium node nor a site of the model "
                f"(nodes: {sorted(nodes)}, sites: {sorted(sites)})"
            )
    system = find_system(systems, invariant.node, "invariant node")
    find_system(systems, auxiliary.node, "auxiliary node")
    if auxiliary.node not in system.mechanisms:
        raise ValueError(
            f"auxiliary {auxiliary.label!r} and invariant {invariant.label!r} must belong to the "
            "same equilibrium system"
        )
    check_index(invariant, system, "invariant node")
    check_index(auxiliary, system, "auxiliary node")
    if graph is None:
        graph = causal_graph(lambda: with_parameters(model, reference, args, kwargs))
    if not any(n in graph and nx.has_path(graph, n, invariant.node) for n in intervention):
        raise ValueError(
            f"the invariant node {invariant.label!r} is not downstream of the intervened "
            f"{sorted(intervention)} in the causal graph: there is nothing to keep invariant"
        )
    if invariant.index is not None and not element_moves(
        lambda: with_parameters(model, reference, args, kwargs), intervention, invariant, system
    ):
        raise ValueError(
            f"the invariant element {invariant.label!r} is not downstream of the intervened "
            f"{sorted(intervention)}: the intervention leaves it unchanged at the reference point "
            "(its node is downstream, but not this element): there is nothing to keep invariant"
        )
    dims = {}
    for name in intervention:
        if name in nodes:
            dims[name] = nodes[name].event_dim(name)
        else:
            site = trace.nodes[name]
            dims[name] = site["value"].dim() if site["type"] == "param" else site["fn"].event_dim
    return Triplet(dict(intervention), invariant, auxiliary, system, dims)
