"""Lie groups: axioms (property tests), actions, exp/log, transforms, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import pyro_causal_eq as pce

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
SIZE = 3
coords = st.lists(st.floats(-2.0, 2.0), min_size=SIZE, max_size=SIZE)
points = st.lists(st.floats(-10.0, 10.0), min_size=SIZE, max_size=SIZE)
small_angles = st.lists(st.floats(-1.0, 1.0), min_size=3, max_size=3)  # so(3), |θ| < π


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def scale(a):
    return pce.Scale(log=t(a))


def shift(a):
    return pce.Shift(t(a))


def affine(a, b):
    return pce.Affine.exp(torch.stack([t(a), t(b)], dim=-1))


def rotation(a):
    return pce.SO.exp(t(a))


def same(g, h, x, atol=1e-10):
    return torch.allclose(g(x), h(x), atol=atol, rtol=1e-10)


@SETTINGS
@given(a=coords, b=coords, c=coords, x=points)
def test_scale_axioms(a, b, c, x):
    g, h, k, x = scale(a), scale(b), scale(c), t(x)
    assert same((g * h) * k, g * (h * k), x)
    assert same(g * h, lambda v: g(h(v)), x)
    assert same(g * g.inverse(), pce.Scale.identity((SIZE,)), x)
    assert same(g.inverse() * g, lambda v: v, x)
    assert torch.allclose(pce.Scale.exp(g.log()).factor, g.factor, rtol=1e-12)
    assert torch.allclose(g.log(), t(a), atol=1e-12)


@SETTINGS
@given(a=coords, b=coords, c=coords, x=points)
def test_shift_axioms(a, b, c, x):
    g, h, k, x = shift(a), shift(b), shift(c), t(x)
    assert same((g * h) * k, g * (h * k), x)
    assert same(g * h, lambda v: g(h(v)), x)
    assert same(g * g.inverse(), lambda v: v, x)
    assert torch.equal(pce.Shift.exp(g.log()).delta, g.delta)


@SETTINGS
@given(a=coords, b=coords, c=coords, d=coords, e=coords, f=coords, x=points)
def test_affine_axioms(a, b, c, d, e, f, x):
    g, h, k, x = affine(a, b), affine(c, d), affine(e, f), t(x)
    assert same((g * h) * k, g * (h * k), x, atol=1e-9)
    assert same(g * h, lambda v: g(h(v)), x, atol=1e-9)
    assert same(g * g.inverse(), lambda v: v, x, atol=1e-9)
    assert same(g.inverse() * g, lambda v: v, x, atol=1e-9)
    back = pce.Affine.exp(g.log())
    assert torch.allclose(back.scale, g.scale, rtol=1e-10)
    assert torch.allclose(back.shift, g.shift, rtol=1e-10, atol=1e-10)
    # exp of the algebra element [[a, b], [0, 0]] is the matrix exponential
    for i in range(SIZE):
        generator = t([[a[i], b[i]], [0.0, 0.0]])
        expected = torch.linalg.matrix_exp(generator)
        assert math.isclose(float(g.scale[i]), float(expected[0, 0]), rel_tol=1e-10)
        assert math.isclose(float(g.shift[i]), float(expected[0, 1]), rel_tol=1e-9, abs_tol=1e-12)


@SETTINGS
@given(a=small_angles, b=small_angles, c=small_angles, x=points)
def test_rotation_axioms(a, b, c, x):
    g, h, k, x = rotation(a), rotation(b), rotation(c), t(x)
    assert same((g * h) * k, g * (h * k), x)
    assert same(g * h, lambda v: g(h(v)), x)
    assert same(g * g.inverse(), lambda v: v, x)
    m = g.matrix
    assert torch.allclose(m.T @ m, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert math.isclose(float(torch.linalg.det(m)), 1.0, rel_tol=1e-12)
    assert torch.allclose(g.log(), t(a), atol=1e-9)  # principal log (angles below π)
    assert torch.allclose(pce.SO.exp(g.log()).matrix, m, atol=1e-10)
    assert math.isclose(float(g(x).norm()), float(x.norm()), rel_tol=1e-12, abs_tol=1e-12)


@SETTINGS
@given(a=coords, b=coords, x=points)
def test_mixed_scale_shift_compose_into_affine(a, b, x):
    g, h, x = scale(a), shift(b), t(x)
    assert isinstance(g * h, pce.Affine)
    assert same(g * h, lambda v: g(h(v)), x)
    assert same(h * g, lambda v: h(g(v)), x)


@pytest.mark.parametrize(
    "identity",
    [
        lambda: pce.Scale.identity((SIZE,)),
        lambda: pce.Shift.identity((SIZE,)),
        lambda: pce.Affine.identity((SIZE,)),
        lambda: pce.SO.identity(n=SIZE),
    ],
    ids=["scale", "shift", "affine", "so"],
)
def test_identity_acts_bit_for_bit(identity):
    identity = identity()
    x = torch.randn(4, SIZE) * 1e3 + 1e-7
    assert identity(x) is x
    assert torch.equal(identity.inverse()(x), x)
    assert torch.allclose(identity.log(), torch.zeros_like(identity.log()))


def test_so2_orientation_and_rotation_from_skew():
    g = pce.SO.exp(t([math.pi / 2]))
    assert torch.allclose(g(t([1.0, 0.0])), t([0.0, 1.0]), atol=1e-15)
    skew = t([[0.0, -0.3], [0.3, 0.0]])
    assert torch.allclose(pce.SO.from_skew(skew).matrix, torch.linalg.matrix_exp(skew))


def test_scale_from_factor_and_log_agree():
    factor = t([0.5, 1.0, 3.0])
    assert torch.allclose(pce.Scale(factor).log(), factor.log())
    assert torch.allclose(pce.Scale(log=factor.log()).factor, factor)
    x = t([1.0, 2.0, 3.0])
    assert torch.allclose(pce.Scale(factor)(x), factor * x)


@pytest.mark.parametrize(
    "element",
    [
        lambda: pce.Scale(t([0.5, 2.0, 1.5])),
        lambda: pce.Shift(t([1.0, -2.0, 0.5])),
        lambda: pce.Affine(t([0.5, 2.0, 1.5]), t([1.0, -2.0, 0.5])),
        lambda: pce.SO.exp(t([0.3, -0.2, 0.1])),
    ],
    ids=["scale", "shift", "affine", "so"],
)
def test_transform_log_abs_det_matches_autograd(element):
    element = element()
    transform = element.to_transform()
    x = t([0.3, -1.2, 2.0])
    y = transform(x)
    assert torch.allclose(transform.inv(y), x, atol=1e-12)
    jac = torch.autograd.functional.jacobian(element, x)
    expected = torch.linalg.slogdet(jac).logabsdet
    got = transform.log_abs_det_jacobian(x, y)
    got = got.sum() if element.event_dim == 0 else got
    assert torch.allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: pce.Scale(0.0), "positive"),
        (lambda: pce.Scale(t([1.0, -1.0])), "positive"),
        (lambda: pce.Scale(float("nan")), "positive"),
        (lambda: pce.Scale(float("inf")), "finite"),
        (lambda: pce.Scale(log=float("nan")), "finite"),
        (lambda: pce.Scale(), "exactly one"),
        (lambda: pce.Scale(1.0, log=0.0), "exactly one"),
        (lambda: pce.Scale("big"), "number or tensor"),
        (lambda: pce.Shift(float("nan")), "finite"),
        (lambda: pce.Affine(-1.0, 0.0), "positive"),
        (lambda: pce.Affine(1.0, float("inf")), "finite"),
        (lambda: pce.Affine.exp(t([1.0, 2.0, 3.0])), "size 2"),
        (lambda: pce.SO(t([[1.0, 0.0], [0.0, -1.0]])), "determinant"),
        (lambda: pce.SO(t([[1.0, 1.0], [0.0, 1.0]])), "orthogonal"),
        (lambda: pce.SO(t([1.0, 0.0])), "square"),
        (lambda: pce.SO.exp(t([0.1, 0.2])), "n\\(n-1\\)/2"),
    ],
)
def test_bad_group_elements_raise_clear_errors(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()


def test_rotation_rejects_wrong_vector_size():
    with pytest.raises(ValueError, match="acts on vectors of size 3"):
        pce.SO.exp(t([0.1, 0.2, 0.3]))(torch.zeros(2))


def test_composition_with_non_element_is_not_supported():
    with pytest.raises(TypeError):
        pce.Scale(2.0) * 3.0
