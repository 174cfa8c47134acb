"""One convention for the entry points: signatures, seeds, progress bars, frozen results with
``to_xarray()``, deprecated old spellings, and the layering of simulators below reduction."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import pyro
import pytest
import torch
import xarray as xr

import pyro_causal_eq as pce
from pyro_causal_eq.economics.compartments import two_compartment_model
from pyro_causal_eq.invariance import (
    Compartment,
    InvariantOptions,
    learn_compartmentalized_interventions,
    learn_invariant_intervention,
)
from pyro_causal_eq.reduction import TCRGuide, data_model, fit
from pyro_causal_eq.simulators import LinearGaussianSCM

D = torch.float64
ROOT = Path(__file__).resolve().parents[1]
COMMON = {"args": (), "kwargs": None, "seed": 0, "progress": False}
ENTRY_POINTS = {
    "optimize": pce.optimize,
    "learn_invariant_intervention": learn_invariant_intervention,
    "learn_compartmentalized_interventions": learn_compartmentalized_interventions,
    "reduction.fit": fit,
}


@pytest.fixture(autouse=True)
def _setup():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(D)
    torch.set_num_threads(1)
    pyro.clear_param_store()
    pyro.enable_validation(True)
    yield
    torch.set_default_dtype(previous)


# ----- tiny problems, one per entry point -----
def economy(A, y):
    return pce.equilibrate("economy", {"x": lambda x: A @ x + y}, init={"x": torch.zeros(len(y))})


A = torch.tensor([[0.1, 0.3], [0.2, 0.1]], dtype=D)
Y = torch.tensor([1.0, 2.0], dtype=D)
TARGET = torch.tensor([2.0, 2.5], dtype=D)


def objective(trace):
    return ((trace.nodes["x"]["value"] - TARGET) ** 2).sum()


def run_optimize(**options):
    spec = pce.Learnable(pce.Scale, shape=(2,), dtype=D)
    return pce.optimize(economy, {"x": spec}, objective, args=(A, Y), steps=5, **options)


def eq4(tau=None):  # y = τ + z / 2, z = y / 2 (paper eq. 4)
    tau = torch.tensor(1.0, dtype=D) if tau is None else tau
    return pce.equilibrate(
        "s",
        {"y": lambda z: tau + 0.5 * z, "z": lambda y: 0.5 * y},
        init={"y": torch.zeros((), dtype=D), "z": torch.zeros((), dtype=D)},
    )


TAU = {"tau": torch.distributions.Uniform(torch.tensor(0.5, dtype=D), torch.tensor(1.5, dtype=D))}
OPTIONS = InvariantOptions(hidden=(4,), num_train=8, num_test=4, lm_steps=2, check=False)


def run_invariant(**options):
    return learn_invariant_intervention(
        eq4, {"y": pce.Scale(1.3)}, "z", parameters=TAU, steps=3, options=OPTIONS, **options
    )


def run_compartments(options=OPTIONS, **kwargs):
    uniform = torch.distributions.Uniform(torch.tensor(0.8, dtype=D), torch.tensor(1.2, dtype=D))
    spec = {
        "1": Compartment(["a1", "b1", "c1"], {"a1": pce.Scale(0.8)}, "b1"),
        "2": Compartment(["a2", "b2", "c2"], {"a2": pce.Scale(1.2)}, "b2"),
    }
    parameters = {"demand1": uniform, "demand2": uniform}
    return learn_compartmentalized_interventions(
        two_compartment_model, spec, parameters, steps=2, options=options, **kwargs
    )


SCM = LinearGaussianSCM.chain(4, seed=0)


def run_fit(**options):
    pyro.clear_param_store()
    return fit(SCM, n_interventions=60, n_samples=8, steps=10, **options)


RUNS = {
    "optimize": run_optimize,
    "learn_invariant_intervention": run_invariant,
    "learn_compartmentalized_interventions": run_compartments,
    "reduction.fit": run_fit,
}


# ----- signatures -----
@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_signature_is_uniform(name):
    parameters = inspect.signature(ENTRY_POINTS[name]).parameters
    first = next(iter(parameters.values()))
    assert first.name == "model" and first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for key in ("args", "kwargs", "steps", "lr", "seed", "progress"):
        assert parameters[key].kind is inspect.Parameter.KEYWORD_ONLY, key
    for key, default in COMMON.items():
        assert parameters[key].default == default, (key, parameters[key].default)
    assert isinstance(parameters["steps"].default, int | type(None))
    # the only catch-alls are the deprecated spellings
    catch_all = [p.name for p in parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert all(n.startswith("legacy_") for n in catch_all), catch_all


def test_tradeoff_follows_the_convention():
    from pyro_causal_eq.economics import tradeoff

    parameters = inspect.signature(tradeoff).parameters
    first = next(iter(parameters.values()))
    assert first.name == "model" and first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert list(parameters)[:4] == ["model", "lambdas", "ghg", "social"]
    for key in ("steps", "lr", "seed", "progress"):
        assert parameters[key].kind is inspect.Parameter.KEYWORD_ONLY, key
    assert parameters["progress"].default is False and parameters["seed"].default == 0


def run_tradeoff(**options):
    import pymrio

    from pyro_causal_eq.economics import IOModel, tradeoff

    io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    return tradeoff(io, [10.0, 100.0], branches="local", **options)


def test_tradeoff_result_is_frozen_seeded_and_shows_progress(capsys):
    result = run_tradeoff()
    assert dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.dataset = None
    ds = result.to_xarray()
    assert isinstance(ds, xr.Dataset) and ds.sizes["lam"] == 2
    state = torch.random.get_rng_state()
    xr.testing.assert_allclose(
        run_tradeoff(seed=3).to_xarray().drop_vars("time").drop_attrs(),
        ds.drop_vars("time").drop_attrs(),
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    bar = CountingBar()
    run_tradeoff(progress=bar)
    assert bar.n == 2 and "loss" in bar.postfix and not bar.closed
    capsys.readouterr()
    run_tradeoff(progress=True)
    assert "trade-off (exact):" in capsys.readouterr().err


# ----- results -----
@pytest.mark.parametrize("name", list(RUNS))
def test_result_is_frozen_with_to_xarray(name):
    result = RUNS[name]()
    assert dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.steps = 7  # any field: the result is immutable
    ds = result.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert "loss" in ds and ds["loss"].dims in (("step",), ("evaluation",))


# ----- seed and progress behave the same everywhere -----
@pytest.mark.parametrize("name", list(RUNS))
def test_seed_reproduces_and_leaves_the_caller_stream_alone(name):
    state = torch.random.get_rng_state()
    first = RUNS[name](seed=3).to_xarray()
    assert torch.equal(torch.random.get_rng_state(), state)
    second = RUNS[name](seed=3).to_xarray()
    # equal up to rounding: SIMD reductions may round differently with memory alignment
    xr.testing.assert_allclose(first.drop_attrs(), second.drop_attrs(), rtol=1e-9, atol=0)


class CountingBar:
    def __init__(self):
        self.n, self.postfix, self.closed = 0, None, False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, refresh=True, **values):
        self.postfix = values

    def close(self):
        self.closed = True


@pytest.mark.parametrize("name", list(RUNS))
def test_progress_bar_is_advanced_and_left_open(name):
    bar = CountingBar()
    RUNS[name](progress=bar)
    assert bar.n > 0 and "loss" in bar.postfix and not bar.closed


LABELS = {
    "optimize": "optimize",
    "learn_invariant_intervention": "invariance",
    "learn_compartmentalized_interventions": "invariance",
    "reduction.fit": "TCR fit",
}


@pytest.mark.parametrize("name", list(RUNS))
def test_progress_true_shows_a_tqdm_bar(name, capsys):
    RUNS[name](progress=True)
    assert f"{LABELS[name]}:" in capsys.readouterr().err
    RUNS[name]()  # the default is silent
    assert capsys.readouterr().err == ""


def test_bad_progress_and_seed_are_errors():
    with pytest.raises(TypeError, match="progress"):
        run_optimize(progress="yes")
    with pytest.raises(TypeError, match="seed"):
        run_optimize(seed=1.5)


# ----- deprecated spellings keep working -----
def test_optimize_positional_model_arguments_deprecated():
    spec = pce.Learnable(pce.Scale, shape=(2,), dtype=D)
    with pytest.warns(DeprecationWarning, match=r"args=\(a, b\)"):
        old = pce.optimize(economy, {"x": spec}, objective, (A, Y), steps=5)
    new = run_optimize()
    assert torch.allclose(torch.tensor(old.losses), torch.tensor(new.losses), rtol=1e-9, atol=0)


def test_fit_positional_data_deprecated():
    data = SCM.simulate(60, 8, seed=0)
    guide = TCRGuide(4, tau_mask=SCM.tau_mask, omega_mask=SCM.omega_mask)
    with pytest.warns(DeprecationWarning, match="args="):
        old = fit(data_model, guide, data, steps=10)
    pyro.clear_param_store()
    guide = TCRGuide(4, tau_mask=SCM.tau_mask, omega_mask=SCM.omega_mask)
    new = fit(data_model, guide, args=(data,), steps=10)
    assert torch.allclose(old.tau, new.tau, rtol=1e-9, atol=0)
    assert torch.allclose(torch.tensor(old.losses), torch.tensor(new.losses), rtol=1e-9, atol=0)


def test_learn_invariant_keyword_options_deprecated():
    with pytest.warns(DeprecationWarning, match=r"options=InvariantOptions\(hidden=...") as got:
        old = learn_invariant_intervention(
            eq4, {"y": pce.Scale(1.3)}, "z", parameters=TAU, steps=3,
            hidden=(4,), num_train=8, num_test=4, lm_steps=2, check=False,
        )  # fmt: skip
    assert got[0].filename == __file__  # points at the caller
    new = run_invariant()
    assert torch.allclose(torch.tensor(old.log.losses), torch.tensor(new.log.losses), rtol=1e-9)
    assert old.invariance_error == pytest.approx(new.invariance_error, rel=1e-6)
    with pytest.raises(TypeError, match="unexpected keyword"):
        learn_invariant_intervention(eq4, {"y": pce.Scale(1.3)}, "z", parameters=TAU, hiden=(4,))


def test_learn_compartments_keyword_options_deprecated():
    with pytest.warns(DeprecationWarning, match="options=InvariantOptions"):
        result = learn_compartmentalized_interventions(
            two_compartment_model,
            {
                "1": Compartment(["a1", "b1", "c1"], {"a1": pce.Scale(0.8)}, "b1"),
                "2": Compartment(["a2", "b2", "c2"], {"a2": pce.Scale(1.2)}, "b2"),
            },
            {"demand1": TAU["tau"], "demand2": TAU["tau"]},
            steps=0, hidden=(2,), num_train=4, num_test=2, lm_steps=0, check=False,
        )  # fmt: skip
    assert set(result.compartments) == {"1", "2"}
    with pytest.raises(ValueError, match="per Compartment"):
        run_compartments(options=OPTIONS.replace(network=torch.nn.Linear(1, 1)))


@pytest.mark.parametrize(
    "module,name,home",
    [
        ("reduction", "initialize", "pyro_causal_eq.reduction.initialization"),
        ("reduction", "consistency_terms", "pyro_causal_eq.reduction.loss"),
        ("invariance", "mlp", "pyro_causal_eq.invariance.mechanism"),
    ],
)
def test_implementation_details_unexported_but_importable(module, name, home):
    package = getattr(pce, module)
    assert name not in package.__all__
    with pytest.warns(DeprecationWarning, match=home):
        moved = getattr(package, name)
    assert moved is getattr(__import__(home, fromlist=[name]), name)


# ----- layering: simulators sit below reduction -----
def test_simulators_do_not_import_reduction():
    for path in (ROOT / "pyro_causal_eq" / "simulators").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "reduction" not in (node.module or ""), (path.name, node.module)
    code = "import sys, pyro_causal_eq.simulators; print('pyro_causal_eq.reduction' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_reduction_reexports_the_moved_names():
    from pyro_causal_eq import simulators

    assert pce.reduction.InterventionalData is simulators.InterventionalData
    assert pce.reduction.InterventionStatistics is simulators.InterventionStatistics
    assert pce.reduction.linear_gaussian_solution is simulators.linear_gaussian_solution
    assert pce.reduction.data_model is simulators.data_model
