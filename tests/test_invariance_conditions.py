"""Proposition 3 (checked against closed forms) and Proposition 4 on causal graphs."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

import pyro_causal_eq as pce
from pyro_causal_eq.economics.compartments import COMPARTMENTS, two_compartment_model
from pyro_causal_eq.economics.rebound import demand, rebound_model
from pyro_causal_eq.invariance import check_compartments, check_proposition3

D = torch.float64


def uniform(lo: float, hi: float) -> torch.distributions.Uniform:
    return torch.distributions.Uniform(torch.tensor(lo, dtype=D), torch.tensor(hi, dtype=D))


A01 = {"a01": uniform(0.01, 0.19)}
EFFICIENCY = {"efficiency": pce.Scale(0.6)}


def test_rebound_proposition3_against_closed_forms():
    report = check_proposition3(rebound_model, EFFICIENCY, "y[0]", "p[0]", A01)
    assert report.holds and report.learnable
    assert report.features == ["p[1]", "p[2]"]
    a = 0.1  # the mean of U(0.01, 0.19)
    p0 = 0.5 / (1 - 0.5 * a)
    dp0 = 0.25 / (1 - 0.5 * a) ** 2
    # ∂p1/∂a01 = p0 + a01 ∂p0/∂a01; p2 = 0 does not move
    expected = torch.tensor([[p0 + a * dp0], [0.0]])
    assert torch.allclose(report.parameter_jacobian, expected, atol=1e-10)
    # effect of a hard intervention p0 = λ on y0 is the slope of the demand curve at p0
    lam = torch.tensor(p0, requires_grad=True)
    (slope,) = torch.autograd.grad(demand(lam), lam)
    assert float(report.effect.reshape(())) == pytest.approx(float(slope), rel=1e-10)
    assert report.parameter_rank == 1 and report.n_parameters == 1
    assert "holds" in report.explain()


def test_rebound_proposition3_failing_parts():
    no_parents = check_proposition3(rebound_model, EFFICIENCY, "y[0]", "p[2]", A01)
    assert not no_parents.parameter_rank_ok and no_parents.effect_ok
    assert "(b) parameter-to-parents Jacobian full column rank: False" in no_parents.explain()
    no_effect = check_proposition3(rebound_model, EFFICIENCY, "y[0]", "x[0]", A01)
    assert not no_effect.effect_ok and no_effect.reduced_jacobian_ok
    assert "(c) effect ∂x*_j/∂x_k non-zero: False" in no_effect.explain()
    # two parameters, one parent direction: rank deficient
    two = {"a01": A01["a01"], "demand_scale": uniform(1.3, 1.5)}
    deficient = check_proposition3(rebound_model, EFFICIENCY, "y[0]", "p[0]", two)
    assert deficient.n_parameters == 2 and deficient.parameter_rank == 1
    assert not deficient.holds


def test_reduced_jacobian_failure():
    # a = b + 1, b = a - j, j = a / 2 + 1: locally unique, but x_-j alone is singular
    def model(c=1.0):
        return pce.equilibrate(
            "s",
            {"a": lambda b: b + c, "b": lambda a, j: a - j, "j": lambda a: 0.5 * a + 1.0},
            init={"a": torch.zeros(()), "b": torch.zeros(()), "j": torch.zeros(())},
        )

    with pce.Newton(require_stable=False):
        report = check_proposition3(
            model, {"b": pce.Scale(1.1)}, "j", "a", reference={"c": torch.tensor(1.0, dtype=D)}
        )
    assert not report.reduced_jacobian_ok
    assert report.reduced_smallest_singular_value < 1e-10
    assert "(a) reduced Jacobian I - ∂f_-j/∂x_-j invertible: False" in report.explain()


def test_proposition4_on_the_two_compartment_model():
    G = pce.causal_graph(two_compartment_model)
    crossing = {(s, t) for s, t in G.edges if s[-1] != t[-1]}
    assert crossing == {("b1", "c2"), ("b2", "c1")}
    assert len(max(nx.strongly_connected_components(G), key=len)) == 6  # one SCC
    roles = {"1": ["a1", "b1"], "2": ["a2", "b2"]}
    ok = check_compartments(G, COMPARTMENTS, {"1": ["b1"], "2": ["b2"]}, roles)
    assert ok.holds and ok.leaving == {"b1": ["c2"], "b2": ["c1"]}
    bad = check_compartments(G, COMPARTMENTS, {"1": ["a1"], "2": ["b2"]})
    assert not bad.holds
    assert "'b1' of compartment '1' has arrows to ['c2']" in bad.explain()
    overlap = check_compartments(
        G, {"1": ["a1", "b1", "c1", "a2"], "2": ["a2", "b2", "c2"]}, {"1": ["b1"], "2": ["b2"]}
    )
    assert any("is in compartments" in v for v in overlap.violations)
    missing = check_compartments(G, {"1": ["a1", "b1", "c1"]}, {"1": ["b1"]})
    assert any("in no compartment" in v for v in missing.violations)
    wrong_role = check_compartments(G, COMPARTMENTS, {"1": ["b1"], "2": ["b2"]}, {"1": ["a2"]})
    assert any("is not in it" in v for v in wrong_role.violations)
