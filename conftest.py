"""Test-wide conventions: doctests (package modules) get one thread, fixed seeds, torch and
pyro in scope; heavy tests get the ``slow`` marker, from one list (``SLOW_TESTS``).

The fast loop for contributors is ``bash scripts/test.sh -m "not slow"`` (under a minute); CI
(``.ci/run``) runs everything. To mark a test slow, add its node id (exact, or an ``fnmatch``
pattern of node ids, matched case-insensitively) below with the reason; test files need no
change.
"""

from fnmatch import fnmatch

import pyro
import pytest
import torch

torch.set_num_threads(1)

# node id (exact) or fnmatch pattern of node ids -> why the test is slow. Chosen from
# `pytest -m "not slow" --durations=30` runs of the whole suite (2026-12-03, 2 cores shared with
# other jobs): every test below took 2-50 s there.
SLOW_TESTS = {
    # every tutorial notebook, executed end to end in a kernel
    "tests/test_tutorials.py::*": "notebooks",
    # builds the whole site (API pages, notebooks) and opens it in a browser
    "tests/test_docs.py::test_site_*": "docs build",
    # start a dask LocalCluster (processes)
    "tests/test_sweep.py::*cluster*": "LocalCluster",
    # the console script in a subprocess, and the CLI on the embedded economy
    "tests/test_cli.py::test_console_script": "subprocess + trade-off",
    "tests/test_cli.py::test_default_embedded_system": "trade-off sweep",
    # certified trade-off sweeps against independent optimizers, and gradient paths
    "tests/test_economics_tradeoff.py::test_useeio_sweep_is_exact": "411 sectors",
    "tests/test_economics_tradeoff.py::test_exact_matches_independent_optimizer*": "LP/MILP",
    "tests/test_economics_tradeoff.py::test_demand_target_matches_independent_optimizer": "LP",
    "tests/test_economics_tradeoff.py::test_gradient_methods_reach_the_exact_optimum*": "Adam",
    "tests/test_economics_tradeoff.py::test_large_bounds_search_branches": "branch search",
    "tests/test_economics_tradeoff.py::test_narrow_bounds_match_independent_optimizer": "LP",
    "tests/test_economics_tradeoff.py::test_l2_penalty_gradient_path": "L-BFGS path",
    "tests/test_economics_tradeoff.py::test_georgia_default_is_global_where_local_search_is_not": (
        "real table, MILP"
    ),
    # training of invariant / compartmentalized interventions (a module fixture trains)
    "tests/test_invariance_compartments.py::test_joint_training_is_invariant": "training",
    "tests/test_invariance_compartments.py::test_compartments_depend_only_on_*": "same fixture",
    "tests/test_invariance_learn.py::test_rebound_invariant_intervention_saves_energy": "training",
    "tests/test_invariance_learn.py::test_vector_nodes_and_sample_site_parameters": "training",
    "tests/test_invariance_learn.py::test_eq4_invariance_on_parameters_we_choose": "training",
    "tests/test_invariance_learn.py::test_warning_names_the_failing_part": "training",
    "tests/test_invariance_robustness.py::test_eq4_with_source_node_on_parameters_we_choose*": (
        "training"
    ),
    "tests/test_invariance_robustness.py::test_unstable_deployed_system_gives_inf_*": "training",
    # SVI fits of targeted causal reduction
    "tests/test_reduction_fit.py::test_svi_adam_reaches_the_analytic_solution": "SVI",
    "tests/test_reduction_fit.py::test_reproduction_script_small": "figure script",
    # SVI and training in the second tier of the same measurement (2-11 s there)
    "tests/test_reduction_fit.py::test_fit_with_adam_and_errors": "SVI",
    "tests/test_reduction_fit.py::test_fit_stops_on_the_relative_loss_change": "SVI",
    "tests/test_reduction_fit.py::test_two_causes_without_groups_by_svi": "SVI",
    "tests/test_reduction_fit.py::test_plain_svi_from_default_init_general_*": "SVI",
    "tests/test_reduction_fit.py::test_homogeneity_makes_tau_and_omega_congruent": "SVI",
    "tests/test_simulators_tcr.py::test_point_masses_exact_reduction_is_learned": "SVI",
    "tests/test_invariance_learn.py::test_intervention_range": "training",
    "tests/test_invariance_learn.py::test_scipy_confirms_learned_rebound_equilibrium": "training",
    "pyro_causal_eq/invariance/compartments.py::*learn_compartmentalized_interventions": (
        "doctest that trains"
    ),
    "tests/test_cli.py::test_useeio_folder_and_region": "real USEEIO table",
    "tests/test_cli.py::test_exiobase_archive": "archive + sweep",
    # long optimizations and iterations to max_iter
    "tests/test_optimize.py::test_optimize_reaches_target_equilibrium[adam-3000]": "3000 steps",
    "tests/test_errors.py::test_linear_system_with_spectral_radius_at_least_one_*picard*": (
        "Picard runs to max_iter"
    ),
}


def is_slow(nodeid: str) -> bool:
    """Whether a test's node id matches a pattern of ``SLOW_TESTS``."""
    if nodeid in SLOW_TESTS:  # exact ids first: their [params] are not fnmatch classes
        return True
    nodeid = nodeid.lower()
    return any(fnmatch(nodeid, pattern.lower()) for pattern in SLOW_TESTS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_slow(item.nodeid):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _doctest_conventions(doctest_namespace):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    doctest_namespace["torch"] = torch
    doctest_namespace["pyro"] = pyro
    yield
