"""The intervention design loop against closed-form optima."""

import pytest
import torch

import pyro_causal_eq as pce


def economy(A, y):
    return pce.equilibrate("economy", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(len(y))})


A = torch.tensor([[0.1, 0.3], [0.2, 0.1]], dtype=torch.float64)
y = torch.tensor([1.0, 2.0], dtype=torch.float64)


@pytest.mark.parametrize("optimizer,steps", [("lbfgs", 50), ("adam", 3000)])
def test_optimize_reaches_target_equilibrium(optimizer, steps):
    # target x*: alpha solving x* = diag(alpha)(A x* + y)  =>  alpha = x* / (A x* + y)
    target = torch.tensor([2.0, 2.5])
    alpha_true = target / (A @ target + y)
    result = pce.optimize(
        economy,
        {"x": pce.Learnable(pce.Scale, shape=(2,))},
        lambda tr: ((tr.nodes["x"]["value"] - target) ** 2).sum(),
        args=(A, y),
        optimizer=optimizer,
        lr=0.02 if optimizer == "adam" else 1.0,
        steps=steps,
        tol=1e-14,
    )
    tolerance = 1e-6 if optimizer == "lbfgs" else 1e-4
    assert torch.allclose(result.actions["x"].factor, alpha_true, atol=tolerance)
    assert result.losses[-1] < result.losses[0]


def test_bounded_scale_stays_in_bounds_and_starts_at_identity():
    spec = pce.Learnable(pce.Scale, shape=(2,), bounds=(0.0, 2.0))
    assert torch.allclose(spec.element().factor, torch.ones(2))
    result = pce.optimize(
        economy,
        {"x": spec},
        lambda tr: -tr.nodes["x"]["value"][0],  # push sector 0 up: its factor rises to the bound
        args=(torch.zeros(2, 2), y),
        steps=200,
        lr=0.5,
    )
    factor = result.actions["x"].factor
    assert 1.9 < float(factor[0]) < 2.0 and float(factor[1]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("group", [pce.Shift, pce.Affine])
def test_learnable_groups_start_at_identity(group):
    spec = pce.Learnable(group, shape=(3,))
    x = torch.randn(3)
    assert torch.allclose(spec.element()(x), x)


def test_learnable_rotation():
    target = torch.tensor([0.0, 1.0])

    def model():
        return pce.equilibrate(
            "r", {"v": lambda: torch.tensor([1.0, 0.0])}, init={"v": torch.zeros(2)}
        )

    result = pce.optimize(
        model,
        {"v": pce.Learnable(pce.SO, shape=(2,))},
        lambda tr: ((tr.nodes["v"]["value"] - target) ** 2).sum(),
        optimizer="lbfgs",
        steps=30,
    )
    assert torch.allclose(result.actions["v"].matrix @ torch.tensor([1.0, 0.0]), target, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        pce.optimize(economy, {}, lambda tr: 0.0)
    with pytest.raises(TypeError, match="Learnable"):
        pce.optimize(economy, {"x": pce.Scale(2.0)}, lambda tr: 0.0)
    with pytest.raises(ValueError, match="bounds"):
        pce.Learnable(pce.Shift, bounds=(0.0, 2.0))
    with pytest.raises(ValueError, match="optimizer"):
        pce.optimize(economy, {"x": pce.Learnable(pce.Scale)}, lambda tr: 0.0, optimizer="sgd")
