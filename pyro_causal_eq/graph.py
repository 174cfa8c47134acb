"""The causal graph of a model built on :func:`~pyro_causal_eq.equilibrate`."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import torch
from pyro.poutine.messenger import Messenger

from .internals.mechanisms import mechanism_parents


def _leaf(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().clone().requires_grad_(True)
    return value


class _GraphRecorder(Messenger):
    """Records sites and equilibrium nodes; finds parameter parents by autograd dependence."""

    def __init__(self):
        super().__init__()
        self.graph = nx.DiGraph()
        self.leaves: dict[str, torch.Tensor] = {}

    def _depends_on(self, output) -> list[str]:
        names = [n for n, leaf in self.leaves.items() if leaf.requires_grad]
        if not names or not isinstance(output, torch.Tensor) or not output.requires_grad:
            return []
        grads = torch.autograd.grad(
            output.sum(), [self.leaves[n] for n in names], allow_unused=True, retain_graph=True
        )
        return [n for n, g in zip(names, grads, strict=True) if g is not None]

    def _add_site(self, name: str, kind: str, parents: list[str], **attrs) -> None:
        self.graph.add_node(name, kind=kind, **attrs)
        for parent in parents:
            if parent != name:
                self.graph.add_edge(parent, name, kind="dependence")

    def _pyro_post_equilibrate(self, msg) -> None:
        values, diagnostics, layout = msg["value"]
        system = msg["kwargs"]["system"]
        mechanisms = msg["kwargs"]["mechanisms"]
        nodes = list(mechanisms)
        with torch.enable_grad():
            point = {node: values[node].detach().requires_grad_(False) for node in nodes}
            for node, mechanism in mechanisms.items():
                parents = mechanism_parents(mechanism, nodes, node)
                output = mechanism(**{p: point[p] for p in parents})
                self._add_site(node, "equilibrium", self._depends_on(output), system=system)
                for parent in parents:
                    self.graph.add_node(parent, kind="equilibrium", system=system)
                    self.graph.add_edge(parent, node, kind="structural")

    def _pyro_post_sample(self, msg) -> None:
        name, infer = msg["name"], msg["infer"]
        if infer.get("equilibrium") is None:
            if infer.get("_deterministic"):
                kind, parents = "deterministic", self._depends_on(msg["value"])
            else:
                kind = "observed" if msg["is_observed"] else "sample"
                with torch.enable_grad():
                    parents = self._depends_on(msg["fn"].log_prob(msg["value"]))
            self._add_site(name, kind, parents)
        leaf = _leaf(msg["value"])
        self.leaves[name] = leaf
        msg["value"] = leaf

    def _pyro_post_param(self, msg) -> None:
        self._add_site(msg["name"], "param", [])
        leaf = _leaf(msg["value"])
        self.leaves[msg["name"]] = leaf
        msg["value"] = leaf


def causal_graph(model: Callable, *args, **kwargs) -> nx.DiGraph:
    """Run ``model`` once and return its causal graph.

    Nodes are equilibrium nodes (``kind="equilibrium"``, with their ``system``), and sample,
    observed, param and deterministic sites. Edges between equilibrium nodes come from the
    mechanisms' signatures (``kind="structural"``; cycles allowed); edges from sites to nodes
    and sites come from actual data dependence, found by automatic differentiation
    (``kind="dependence"``).

    :param model: a Pyro model.
    :param args: positional arguments of the model.
    :param kwargs: keyword arguments of the model.

    >>> import torch, pyro, pyro_causal_eq as pce
    >>> def model():
    ...     a = pyro.param("a", torch.tensor(0.5))
    ...     s = pce.equilibrate("s", {"x": lambda y: a * y + 1.0, "y": lambda x: 0.5 * x},
    ...                         init={"x": torch.zeros(()), "y": torch.zeros(())})
    ...     pyro.deterministic("total", s["x"] + s["y"])
    >>> G = causal_graph(model)
    >>> sorted(G.edges)
    [('a', 'x'), ('x', 'total'), ('x', 'y'), ('y', 'total'), ('y', 'x')]
    >>> cycles(G)
    [['x', 'y']]
    """
    recorder = _GraphRecorder()
    with recorder:
        model(*args, **kwargs)
    return recorder.graph


def parents(graph: nx.DiGraph, node: str) -> list[str]:
    """The parents of ``node`` (sorted).

    >>> G = nx.DiGraph([("a", "b"), ("c", "b")])
    >>> parents(G, "b")
    ['a', 'c']
    """
    if node not in graph:
        raise KeyError(f"{node!r} is not a node of the graph (nodes: {sorted(graph)})")
    return sorted(graph.predecessors(node))


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """The elementary directed cycles, each rotated to start at its smallest node, sorted.

    >>> cycles(nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")]))
    [['a', 'b']]
    """
    found = []
    for cycle in nx.simple_cycles(graph):
        start = cycle.index(min(cycle))
        found.append(cycle[start:] + cycle[:start])
    return sorted(found)


def strongly_connected_components(graph: nx.DiGraph) -> list[set[str]]:
    """Strongly connected components (the feedback loops solved jointly), largest first.

    >>> components = strongly_connected_components(nx.DiGraph([("a", "b"), ("b", "a"), ("b", "c")]))
    >>> [sorted(c) for c in components]
    [['a', 'b'], ['c']]
    """
    components = list(nx.strongly_connected_components(graph))
    return sorted(components, key=lambda c: (-len(c), sorted(c)))
