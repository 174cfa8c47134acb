"""The causal graph: structural edges from signatures, dependence edges from autograd."""

import networkx as nx
import pyro
import pyro.distributions as dist
import pytest
import torch

import pyro_causal_eq as pce
from pyro_causal_eq.graph import cycles, parents, strongly_connected_components


def rebound_like_model():
    scale = pyro.sample("scale", dist.LogNormal(0.0, 0.1))
    gain = pyro.param("gain", torch.tensor(0.3))
    unused = pyro.param("unused", torch.tensor(1.0))
    s = pce.equilibrate(
        "market",
        {
            "p": lambda p: 0.2 * p + gain,
            "y": lambda p: scale * torch.exp(-p),
            "x": lambda x, y: 0.5 * x + y,
        },
        init={"p": torch.zeros(()), "y": torch.zeros(()), "x": torch.zeros(())},
    )
    pyro.deterministic("energy", 2.0 * s["x"])
    pyro.sample("obs", dist.Normal(s["x"], 1.0), obs=torch.tensor(1.0))
    del unused


def test_graph_nodes_kinds_and_edges():
    G = pce.causal_graph(rebound_like_model)
    kinds = dict(G.nodes(data="kind"))
    assert kinds == {
        "scale": "sample",
        "gain": "param",
        "unused": "param",
        "p": "equilibrium",
        "y": "equilibrium",
        "x": "equilibrium",
        "energy": "deterministic",
        "obs": "observed",
    }
    structural = {(u, v) for u, v, k in G.edges(data="kind") if k == "structural"}
    assert structural == {("p", "p"), ("p", "y"), ("x", "x"), ("y", "x")}
    dependence = {(u, v) for u, v, k in G.edges(data="kind") if k == "dependence"}
    assert dependence == {("gain", "p"), ("scale", "y"), ("x", "energy"), ("x", "obs")}
    assert G.nodes["x"]["system"] == "market"


def test_graph_helpers():
    G = pce.causal_graph(rebound_like_model)
    assert parents(G, "x") == ["x", "y"]
    assert ["p"] in cycles(G) and ["x"] in cycles(G)
    assert {"x"} in strongly_connected_components(G)
    with pytest.raises(KeyError, match="not a node"):
        parents(G, "nope")


def test_graph_of_two_node_loop_is_one_component():
    def model():
        pce.equilibrate(
            "s",
            {"a": lambda b: 0.5 * b + 1.0, "b": lambda a: 0.5 * a},
            init={"a": torch.zeros(()), "b": torch.zeros(())},
        )

    G = pce.causal_graph(model)
    assert isinstance(G, nx.DiGraph)
    assert strongly_connected_components(G)[0] == {"a", "b"}
    assert cycles(G) == [["a", "b"]]


def test_graph_under_intervention_uses_replaced_parents():
    def model():
        pce.equilibrate(
            "s",
            {"a": lambda b: 0.5 * b + 1.0, "b": lambda a: 0.5 * a},
            init={"a": torch.zeros(()), "b": torch.zeros(())},
        )

    with pce.do(actions={"a": pce.Replace(lambda: torch.tensor(2.0))}):
        G = pce.causal_graph(model)
    assert not cycles(G)
    assert parents(G, "b") == ["a"] and parents(G, "a") == []
