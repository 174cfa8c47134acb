"""IOModel: validation, closed-form equilibria, the Pyro model and its interventions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_economics_fixtures import small_table

import pyro_causal_eq as pce
from pyro_causal_eq.economics import (
    IOModel,
    IOTableError,
    assignment_actions,
    bounded_factor,
    coefficient_actions,
    demand_actions,
)


@pytest.fixture
def io():
    A, y, D = small_table(5, seed=1)
    return IOModel(A, y, D, indicators=["GHG", "JOBS", "VADD"])


def test_equilibrium_matches_numpy(io):
    x = io.equilibrium()
    np.testing.assert_allclose(x, np.linalg.solve(np.eye(5) - io.A, io.y), rtol=1e-14)
    np.testing.assert_allclose(io.impacts(), io.R @ x)
    assert io.default_ghg == "GHG" and io.default_social == "JOBS"


@pytest.mark.parametrize(
    "A, y, R, q, message",
    [
        (np.zeros((2, 3)), [1, 1], [[1, 1]], None, "square"),
        ([[0.1, np.nan], [0, 0.1]], [1, 1], [[1, 1]], None, "NaN"),
        ([[0.1, 0], [0, 0.1]], [1, np.inf], [[1, 1]], None, "NaN/inf"),
        ([[0.6, 0.5], [0.5, 0.6]], [1, 1], [[1, 1]], None, "spectral radius"),
        ([[0.1, 0], [0, 0.1]], [1, 1], [[1, 1, 1]], None, "columns"),
        ([[0.1, 0], [0, 0.1]], [1, 1, 1], [[1, 1]], None, "entries"),
        ([[0.1, 0], [0, 0.1]], [1, 1], [[1, 1]], [1.0, -5.0], "negative output"),
    ],
)
def test_malformed_tables_raise(A, y, R, q, message):
    with pytest.raises(IOTableError, match=message):
        IOModel(A, y, R, q=q)


def test_tiny_negative_output_warns_only():
    with pytest.warns(UserWarning, match="tiny negative"):
        IOModel([[0.1, 0], [0, 0.1]], [1, 1], [[1, 1]], q=[1e6, -1.0])


def test_unknown_indicator_names_known_ones(io):
    with pytest.raises(KeyError, match="known indicators"):
        io.indicator_index("CO2")
    assert io.indicator_index("jobs") == 1


def test_validate_output(io):
    assert IOModel(io.A, io.y, io.R, q=io.equilibrium()).validate_output() < 1e-14
    with pytest.raises(IOTableError, match="no observed output"):
        io.validate_output()


def _run(io, actions):
    model = io.model(dtype=torch.float64)
    with pce.do(actions=actions):
        return model()


def test_model_unintervened_and_sites(io):
    model = io.model(dtype=torch.float64)
    trace = pyro_trace(model)
    x = trace.nodes["x"]["value"]
    np.testing.assert_allclose(x.numpy(), io.equilibrium(), rtol=1e-10)
    np.testing.assert_allclose(trace.nodes["impacts"]["value"].numpy(), io.R @ x.numpy())
    assert trace.nodes["sector_impacts"]["value"].shape == (3, 5)


def pyro_trace(model):
    import pyro.poutine as poutine

    return poutine.trace(model).get_trace()


def test_assignment_intervention_closed_form(io):
    alpha = torch.tensor([0.5, 1.5, 1.0, 0.2, 1.9])
    x = _run(io, assignment_actions(alpha)).numpy()
    a = alpha.numpy()
    expected = np.linalg.solve(np.eye(5) - a[:, None] * io.A, a * io.y)
    np.testing.assert_allclose(x, expected, rtol=1e-9)
    np.testing.assert_allclose(io.equilibrium(a), expected, rtol=1e-12)


def test_demand_and_coefficient_interventions_closed_form(io):
    alpha = torch.tensor([0.5, 1.5, 1.0, 0.2, 1.9])
    x = _run(io, demand_actions(alpha)).numpy()
    np.testing.assert_allclose(
        x, np.linalg.solve(np.eye(5) - io.A, alpha.numpy() * io.y), rtol=1e-9
    )
    row = torch.ones(5, 1)
    row[2] = 0.6  # input 2 (e.g. energy) used 40 % more efficiently by every sector
    x = _run(io, coefficient_actions(row)).numpy()
    A = io.A.copy()
    A[2] *= 0.6
    np.testing.assert_allclose(x, np.linalg.solve(np.eye(5) - A, io.y), rtol=1e-9)


def test_zero_factor_is_the_closed_end(io):
    alpha = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0])
    x = _run(io, assignment_actions(alpha)).numpy()
    assert abs(x[0]) < 1e-200
    with pytest.raises(ValueError, match="nonnegative"):
        assignment_actions(torch.tensor([-0.1, 1.0]))


def test_implicit_gradient_matches_finite_differences(io):
    d = torch.tensor([0.3, -0.2, 0.1, 0.5, -1.0], requires_grad=True)
    c = torch.tensor(io.R[0])

    def ghg(d):
        return c @ _run(io, assignment_actions(bounded_factor(d)))

    value = ghg(d)
    (grad,) = torch.autograd.grad(value, d)
    h = 1e-6
    for i in range(5):
        e = torch.zeros(5)
        e[i] = h
        fd = (ghg(d.detach() + e) - ghg(d.detach() - e)) / (2 * h)
        assert float(grad[i]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)


def test_bounded_factor():
    d = torch.tensor([-50.0, 0.0, 50.0])
    np.testing.assert_allclose(bounded_factor(d).numpy(), [0.0, 1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(bounded_factor(d, (0.5, 1.5)).numpy(), [0.5, 1.0, 1.5], atol=1e-12)
    with pytest.raises(ValueError, match="bounds"):
        bounded_factor(d, (2.0, 1.0))


def test_prior_batches_over_samples(io):
    from pyro.infer import Predictive

    model = io.model(prior_scale=(0.1, 0.1), dtype=torch.float64)
    samples = Predictive(model, num_samples=7, return_sites=["A", "y", "x"], parallel=True)()
    A, y, x = (samples[k].numpy() for k in ("A", "y", "x"))
    assert x.reshape(7, 5).shape == (7, 5)
    for s in range(7):
        expected = np.linalg.solve(np.eye(5) - A.reshape(7, 5, 5)[s], y.reshape(7, 5)[s])
        np.testing.assert_allclose(x.reshape(7, 5)[s], expected, rtol=1e-9)
    assert np.std(x.reshape(7, 5)[:, 0]) > 0
