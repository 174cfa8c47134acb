"""Bad input gets a clear error: non-contractive or singular systems, NaN, shapes, names."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch

import pyro_causal_eq as pce

SOLVERS = {"newton": pce.Newton, "anderson": pce.Anderson, "picard": pce.Picard}
ALL_SOLVERS = pytest.mark.parametrize("solver", [None, *SOLVERS], ids=lambda s: s or "default")


def run(solver, mechanisms, init, **overrides):
    if solver is None:
        return pce.equilibrate("bad", mechanisms, init=init, **overrides)
    with SOLVERS[solver]():
        return pce.equilibrate("bad", mechanisms, init=init, **overrides)


@ALL_SOLVERS
def test_scalar_expanding_map_raises(solver):
    with pytest.raises(pce.EquilibriumError) as info:
        run(solver, {"x": lambda x: 2 * x + 1}, {"x": torch.tensor(0.0)})
    assert "bad" in str(info.value)


@ALL_SOLVERS
@pytest.mark.parametrize("radius", [1.5, 1.0])
def test_linear_system_with_spectral_radius_at_least_one_raises(solver, radius):
    A = torch.tensor([[radius, 0.0, 0.0], [0.1, 0.2, 0.0], [0.0, 0.3, 0.1]])
    with pytest.raises(pce.EquilibriumError):
        run(solver, {"x": lambda x: A @ x + 1.0}, {"x": torch.zeros(3)})


@ALL_SOLVERS
def test_rotation_like_map_without_attracting_fixed_point_raises(solver):
    A = 1.2 * torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # eigenvalues ±1.2i
    with pytest.raises(pce.EquilibriumError):
        run(solver, {"x": lambda x: A @ x + 1.0}, {"x": torch.zeros(2)})


@ALL_SOLVERS
@pytest.mark.parametrize("init", [torch.zeros(2), torch.ones(2)], ids=["zero", "one"])
def test_singular_system_raises(solver, init):
    with pytest.raises(pce.EquilibriumError, match="singular|not locally unique"):
        run(solver, {"x": lambda x: x}, {"x": init})


@ALL_SOLVERS
def test_singular_multi_node_system_raises(solver):
    # x = y, y = x: a line of equilibria
    with pytest.raises(pce.EquilibriumError, match="singular|not locally unique"):
        run(
            solver,
            {"x": lambda y: y, "y": lambda x: x},
            {"x": torch.tensor(1.0), "y": torch.tensor(1.0)},
        )


def test_unstable_equilibrium_accepted_on_request():
    with pce.Newton(require_stable=False):
        x = pce.equilibrate("u", {"x": lambda x: 2 * x + 1}, init={"x": torch.tensor(0.0)})
    assert abs(float(x["x"]) + 1.0) < 1e-12


@ALL_SOLVERS
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_parameters_raise(solver, bad):
    y = torch.tensor([1.0, bad])
    with pytest.raises(pce.EquilibriumError, match="NaN or inf"):
        run(solver, {"x": lambda x: 0.5 * x + y}, {"x": torch.zeros(2)})


@ALL_SOLVERS
def test_nan_reached_during_iteration_raises(solver):
    # f(0) = -1 is finite, but f(-1) = sqrt(-2) is NaN
    with pytest.raises(pce.EquilibriumError):
        run(
            solver,
            {"x": lambda x: torch.sqrt(x - 1.0) * 0.0 + 2 * x - 1.0},
            {"x": torch.tensor(0.0)},
        )


def test_non_finite_init_raises():
    with pytest.raises(pce.EquilibriumError, match="init of node 'x' is not finite"):
        pce.equilibrate(
            "s", {"x": lambda x: 0.5 * x}, init={"x": torch.tensor([1.0, float("nan")])}
        )


def test_non_convergence_names_solver_iterations_and_residual():
    with pytest.raises(pce.EquilibriumError) as info, pce.Picard(max_iter=5):
        pce.equilibrate("slow", {"x": lambda x: 0.99 * x + 1.0}, init={"x": torch.tensor(0.0)})
    message = str(info.value)
    assert "slow" in message and "picard" in message and "5 iterations" in message
    assert info.value.residual is not None and float(info.value.residual) > 1e-12


@pytest.mark.parametrize(
    "mechanisms, init, match",
    [
        ({"x": lambda x: torch.ones(3)}, {"x": torch.zeros(2)}, "shape"),
        ({"x": lambda x: torch.ones(2, 2, 3)}, {"x": torch.zeros(3)}, None),
        ({"x": lambda x: torch.ones(2, 2)}, {"x": torch.zeros(3)}, "shape"),
        (
            {"x": lambda x: x * 0 + torch.ones(2, 1), "y": lambda y: y * 0 + torch.ones(3, 1)},
            {"x": torch.zeros(1), "y": torch.zeros(1)},
            "do not broadcast",
        ),
    ],
)
def test_shape_errors_name_the_node(mechanisms, init, match):
    if match is None:  # a mechanism adding batch dimensions is fine (they broadcast)
        assert run(None, mechanisms, init)["x"].shape == (2, 2, 3)
        return
    with pytest.raises(ValueError, match=match):
        run(None, mechanisms, init)


@pytest.mark.parametrize(
    "mechanisms, init, error, match",
    [
        ({"x": lambda z: z}, {"x": torch.zeros(1)}, ValueError, "'z', which is not a node"),
        ({"x": lambda x: x}, {"x": torch.zeros(1), "w": torch.zeros(1)}, ValueError, "unknown"),
        ({"x": lambda x, y: x, "y": lambda x: x}, {"x": torch.zeros(1)}, ValueError, "missing"),
        ({"x": 3.0}, {"x": torch.zeros(1)}, TypeError, "not callable"),
        ({}, {}, TypeError, "non-empty"),
        ({"x": lambda *args: args[0]}, {"x": torch.zeros(1)}, TypeError, r"\*args"),
        ({"x": lambda x: x}, [torch.zeros(1)], TypeError, "dict"),
        ({"x": lambda x: x}, {"x": "zero"}, TypeError, "not a tensor"),
    ],
)
def test_malformed_systems_raise(mechanisms, init, error, match):
    with pytest.raises(error, match=match):
        pce.equilibrate("s", mechanisms, init=init)


def test_bad_name_and_event_dims_raise():
    with pytest.raises(TypeError, match="name"):
        pce.equilibrate("", {"x": lambda x: x}, init={"x": torch.zeros(1)})
    with pytest.raises(ValueError, match="unknown nodes"):
        pce.equilibrate(
            "s", {"x": lambda x: 0.5 * x}, init={"x": torch.ones(1)}, event_dims={"q": 1}
        )
    with pytest.raises(ValueError, match="event_dims"):
        pce.equilibrate(
            "s", {"x": lambda x: 0.5 * x}, init={"x": torch.ones(1)}, event_dims={"x": 2}
        )


def test_sampling_inside_a_mechanism_is_an_error():
    def mechanism(x):
        return 0.5 * x + pyro.sample("noise", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="deterministic.*noise|noise.*deterministic"):
        pce.equilibrate("s", {"x": mechanism}, init={"x": torch.tensor(0.0)})

    def deterministic_inside(x):
        return pyro.deterministic("inner", 0.5 * x + 1.0)

    with pytest.raises(ValueError, match="inner"):
        pce.equilibrate("s", {"x": deterministic_inside}, init={"x": torch.tensor(0.0)})


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: pce.Anderson(tol=0.0), "tol"),
        (lambda: pce.Anderson(tol=-1.0), "tol"),
        (lambda: pce.Picard(max_iter=0), "max_iter"),
        (lambda: pce.Newton(backward="adjoint"), "backward"),
        (lambda: pce.Anderson(check="sometimes"), "check"),
        (lambda: pce.Anderson(history=0), "history"),
        (lambda: pce.Picard(beta=3.0), "beta"),
        (lambda: pce.Picard(backward_tol=0.0), "backward_tol"),
    ],
)
def test_bad_solver_options_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_per_call_overrides_raise():
    with pytest.raises(ValueError, match="tol"):
        pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1}, init={"x": torch.zeros(1)}, tol=-1.0)
    with pytest.raises(ValueError, match="backward"):
        pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1}, init={"x": torch.zeros(1)}, backward="x")


@pytest.mark.parametrize("factor", [0.0, -2.0, float("nan")])
def test_non_positive_scale_factors_raise(factor):
    with pytest.raises(ValueError, match="positive"):
        pce.Scale(torch.tensor([1.0, factor]))
    with pytest.raises(ValueError, match="positive"):
        pce.Affine(torch.tensor([factor]), 0.0)


def leontief_like(n: int, radius: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    A = torch.rand(n, n, generator=g, dtype=torch.float64)
    return A * (radius / torch.linalg.eigvals(A).abs().max())


@ALL_SOLVERS
@pytest.mark.parametrize("n", [100, 300])
def test_large_non_productive_economy_raises(solver, n):
    # beyond the dense check: Newton's Jacobian / Anderson's history flag ρ > 1
    A, y = leontief_like(n, 1.2), torch.ones(n, dtype=torch.float64)
    with pytest.raises(pce.EquilibriumError):
        run(solver, {"x": lambda x: A @ x + y}, {"x": torch.zeros(n, dtype=torch.float64)})


@pytest.mark.parametrize("solver", [None, "newton", "anderson"], ids=lambda s: s or "default")
def test_large_non_normal_contraction_is_accepted(solver):
    # no norm bound below one; the finer checks must not reject it
    n = 200
    coupling = torch.zeros(n - 1)
    coupling[::2] = 0.9  # pairs (2i, 2i + 1): ρ(J) = 0.3, ||J||₁ = ||J||∞ = 1.2
    J = 0.3 * torch.eye(n) + torch.diag(coupling, 1)
    y = torch.ones(n)
    x = run(solver, {"x": lambda x: J @ x + y}, {"x": torch.zeros(n)})["x"]
    expected = torch.linalg.solve(torch.eye(n) - J, y)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("solver", [None, "newton", "anderson"], ids=lambda s: s or "default")
def test_large_stable_economy_is_accepted(solver):
    n = 300
    A, y = leontief_like(n, 0.9), torch.rand(n, dtype=torch.float64)
    x = run(solver, {"x": lambda x: A @ x + y}, {"x": torch.zeros(n, dtype=torch.float64)})["x"]
    expected = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - A, y)
    torch.testing.assert_close(x, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("solver", [pce.Anderson, pce.Picard])
def test_unrolled_mode_checks_the_equilibrium_too(solver):
    with pytest.raises(pce.EquilibriumError), solver(backward="unrolled"):
        pce.equilibrate("u", {"x": lambda x: 2 * x + 1}, init={"x": torch.tensor(0.0)})
