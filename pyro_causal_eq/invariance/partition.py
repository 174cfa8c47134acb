"""Proposition 4 (compartmentalized interventions) checked on a causal graph."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx


@dataclass
class CompartmentReport:
    """Outcome of the Proposition 4 condition on a causal graph.

    :attr holds: no violation.
    :attr violations: human-readable violations (see :meth:`explain`).
    :attr leaving: node -> its targets in other compartments.

    >>> G = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")])
    >>> parts = {"1": ["a", "b"], "2": ["c", "d"]}
    >>> report = check_compartments(G, parts, invariant={"1": ["b"], "2": ["d"]})
    >>> report.holds, report.leaving, report.violations
    (True, {'b': ['c'], 'd': ['a']}, [])
    >>> bad = check_compartments(G, parts, invariant={"1": ["a"], "2": ["d"]})
    >>> bad.holds, len(bad.violations)
    (False, 1)
    >>> print(bad.explain())
    Proposition 4 condition FAILS:
      - node 'b' of compartment '1' has arrows to ['c'] in other compartments but is not invariant
    """

    holds: bool
    violations: list[str]
    leaving: dict[str, list[str]]

    def explain(self) -> str:
        """A human-readable account: the condition holds, or the list of violations."""
        if self.holds:
            return "Proposition 4 condition holds: only invariant nodes send arrows across"
        return "Proposition 4 condition FAILS:\n" + "\n".join(f"  - {v}" for v in self.violations)


def check_compartments(
    graph: nx.DiGraph,
    compartments: Mapping[str, Iterable[str]],
    invariant: Mapping[str, Iterable[str]],
    roles: Mapping[str, Iterable[str]] | None = None,
) -> CompartmentReport:
    """Proposition 4: every node with an arrow into another compartment must be invariant, and
    each compartment's intervened / auxiliary / invariant nodes must lie in it.

    :param graph: the causal graph (:func:`pyro_causal_eq.causal_graph`); edges to nodes in no
        compartment (e.g. observation sites) are ignored.
    :param compartments: compartment name -> its nodes (a partition).
    :param invariant: compartment name -> its invariant nodes.
    :param roles: compartment name -> the nodes its intervention uses (intervened, auxiliary).

    >>> G = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")])
    >>> check_compartments(G, {"1": ["a", "b"], "2": ["c", "d"]}, {"1": ["b"], "2": ["d"]}).holds
    True
    >>> check_compartments(G, {"1": ["a", "b"], "2": ["c", "d"]}, {"1": ["a"], "2": ["d"]}).holds
    False
    """
    owner: dict[str, str] = {}
    violations: list[str] = []
    for name, nodes in compartments.items():
        for node in nodes:
            if node in owner:
                violations.append(f"node {node!r} is in compartments {owner[node]!r} and {name!r}")
            owner[node] = name
            if node not in graph:
                violations.append(f"node {node!r} of compartment {name!r} is not in the graph")
    unassigned = [
        n for n, d in graph.nodes(data=True) if d.get("kind") == "equilibrium" and n not in owner
    ]
    if unassigned:
        violations.append(f"equilibrium nodes in no compartment: {sorted(unassigned)}")
    leaving: dict[str, list[str]] = {}
    for source, target in graph.edges:
        if source in owner and target in owner and owner[source] != owner[target]:
            leaving.setdefault(source, []).append(target)
    for source, targets in sorted(leaving.items()):
        if source not in set(invariant.get(owner[source], ())):
            violations.append(
                f"node {source!r} of compartment {owner[source]!r} has arrows to "
                f"{sorted(targets)} in other compartments but is not invariant"
            )
    for name, nodes in list(invariant.items()) + list((roles or {}).items()):
        for node in nodes:
            if owner.get(node) != name:
                violations.append(f"node {node!r} of the intervention of {name!r} is not in it")
    return CompartmentReport(not violations, violations, {k: sorted(v) for k, v in leaving.items()})
