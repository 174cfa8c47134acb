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
    # a second measurement on the idle machine (2026-12-03, fast loop was 205 s): every test
    # of the fast loop that took 0.4 s or more, so the loop stays under a minute
    "pyro_causal_eq/economics/sweep.py::pyro_causal_eq.economics.sweep.sweep": "0.4 s or more",
    "pyro_causal_eq/economics/uncertainty.py::pyro_causal_eq.economics.uncertainty.hdi_plot": (
        "0.4 s or more"
    ),
    "pyro_causal_eq/invariance/learn.py::pyro_causal_eq.invariance.learn.learn_invariant_intervention": (  # noqa: E501
        "0.4 s or more"
    ),
    "pyro_causal_eq/invariance/result.py::pyro_causal_eq.invariance.result.InvariantIntervention": (
        "0.4 s or more"
    ),
    "pyro_causal_eq/simulators/double_well.py::pyro_causal_eq.simulators.double_well": (
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_learn_invariant_keyword_options_deprecated": (
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_progress_bar_is_advanced_and_left_open[learn_compartmentalized_interventions]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_progress_true_shows_a_tqdm_bar[learn_compartmentalized_interventions]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_progress_true_shows_a_tqdm_bar[learn_invariant_intervention]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_seed_reproduces_and_leaves_the_caller_stream_alone[learn_compartmentalized_interventions]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_seed_reproduces_and_leaves_the_caller_stream_alone[learn_invariant_intervention]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_api_convention.py::test_simulators_do_not_import_reduction": "0.4 s or more",
    "tests/test_api_convention.py::test_tradeoff_result_is_frozen_seeded_and_shows_progress": (
        "0.4 s or more"
    ),
    "tests/test_cli.py::test_failure_while_writing_leaves_no_file": "0.4 s or more",
    "tests/test_cli_commands.py::test_rebound_energy_with_and_without_invariant_intervention": (
        "0.4 s or more"
    ),
    "tests/test_cli_commands.py::test_reduce_without_analytic_solution": "0.4 s or more",
    "tests/test_code_blocks.py::test_code_block_runs[docs/guide/invariance.md:156]": (
        "0.4 s or more"
    ),
    "tests/test_code_blocks.py::test_code_block_runs[docs/guide/invariance.md:27]": "0.4 s or more",
    "tests/test_code_blocks.py::test_code_block_runs[docs/guide/invariance.md:94]": "0.4 s or more",
    "tests/test_code_blocks.py::test_code_block_runs[docs/guide/scaling.md:51]": "0.4 s or more",
    "tests/test_code_blocks.py::test_code_block_runs[docs/guide/tcr.md:22]": "0.4 s or more",
    "tests/test_code_blocks.py::test_code_block_runs[docs/guide/tcr.md:98]": "0.4 s or more",
    "tests/test_do_sites.py::test_action_on_param_site_and_svi_updates_the_underlying_param": (
        "0.4 s or more"
    ),
    "tests/test_economics_labels.py::test_permuted_final_demand_rows_give_the_same_model[None-False]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_economics_labels.py::test_permuted_final_demand_rows_give_the_same_model[None-True]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_economics_labels.py::test_permuted_final_demand_rows_give_the_same_model[reg3-True]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_economics_labels.py::test_permuted_rows_and_columns_of_every_table_give_the_same_model[False]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_economics_labels.py::test_permuted_rows_and_columns_of_every_table_give_the_same_model[True]": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_economics_loaders.py::test_exiobase_errors[v3.9]": "0.4 s or more",
    "tests/test_economics_loaders.py::test_exiobase_selects_rows_by_label[v3.8]": "0.4 s or more",
    "tests/test_economics_loaders.py::test_exiobase_selects_rows_by_label[v3.9]": "0.4 s or more",
    "tests/test_economics_loaders.py::test_pymrio_without_calc_and_errors": "0.4 s or more",
    "tests/test_economics_readable.py::test_cli_prints_names_units_grid_note_and_no_tiny_numbers": (
        "0.4 s or more"
    ),
    "tests/test_economics_readable.py::test_cli_says_when_the_top_lambda_misses_the_unintervened_point": (  # noqa: E501
        "0.4 s or more"
    ),
    "tests/test_economics_readable.py::test_default_grid_spans_the_front_on_the_test_mrio[reg1]": (
        "0.4 s or more"
    ),
    "tests/test_economics_readable.py::test_default_grid_spans_the_front_on_the_test_mrio[reg2]": (
        "0.4 s or more"
    ),
    "tests/test_economics_sparse.py::test_sparse_pymrio_loader_and_spectral_radius": (
        "0.4 s or more"
    ),
    "tests/test_economics_sparse.py::test_sparse_tradeoff_matches_dense[gradient]": "0.4 s or more",
    "tests/test_economics_sweep.py::test_default_lambdas_are_indexed_by_position": "0.4 s or more",
    "tests/test_economics_sweep.py::test_dims_and_values_match_single_tradeoffs": "0.4 s or more",
    "tests/test_economics_sweep.py::test_local_cluster_equals_serial": "0.4 s or more",
    "tests/test_economics_tradeoff.py::test_milp_certificate_and_bound": "0.4 s or more",
    "tests/test_economics_tradeoff.py::test_outputs_roundtrip": "0.4 s or more",
    "tests/test_economics_tradeoff.py::test_uncertainty_closed_form_and_outputs": "0.4 s or more",
    "tests/test_errors.py::test_large_non_productive_economy_raises[100-default]": "0.4 s or more",
    "tests/test_errors.py::test_large_non_productive_economy_raises[100-picard]": "0.4 s or more",
    "tests/test_errors.py::test_large_non_productive_economy_raises[300-default]": "0.4 s or more",
    "tests/test_errors.py::test_large_non_productive_economy_raises[300-picard]": "0.4 s or more",
    "tests/test_errors.py::test_rotation_like_map_without_attracting_fixed_point_raises[default]": (
        "0.4 s or more"
    ),
    "tests/test_errors.py::test_rotation_like_map_without_attracting_fixed_point_raises[picard]": (
        "0.4 s or more"
    ),
    "tests/test_gradients.py::test_affine_and_rotation_gradcheck_through_do[anderson]": (
        "0.4 s or more"
    ),
    "tests/test_gradients.py::test_affine_and_rotation_gradcheck_through_do[newton]": (
        "0.4 s or more"
    ),
    "tests/test_gradients.py::test_multi_node_gradcheck[anderson]": "0.4 s or more",
    "tests/test_gradients.py::test_multi_node_gradcheck[default]": "0.4 s or more",
    "tests/test_gradients.py::test_multi_node_gradcheck[newton]": "0.4 s or more",
    "tests/test_gradients.py::test_multi_node_gradcheck[picard]": "0.4 s or more",
    "tests/test_gradients.py::test_scale_and_shift_gradcheck_through_do[picard]": "0.4 s or more",
    "tests/test_gradients.py::test_tanh_system_gradcheck[anderson-(2,)]": "0.4 s or more",
    "tests/test_gradients.py::test_tanh_system_gradcheck[default-(2,)]": "0.4 s or more",
    "tests/test_gradients.py::test_tanh_system_gradcheck[newton-(2,)]": "0.4 s or more",
    "tests/test_gradients.py::test_tanh_system_gradcheck[picard-(2,)]": "0.4 s or more",
    "tests/test_groups.py::test_scale_axioms": "0.4 s or more",
    "tests/test_higher_order.py::test_first_order_backward_on_an_ill_conditioned_system[picard]": (
        "0.4 s or more"
    ),
    "tests/test_higher_order.py::test_full_hessian_of_scalar_and_vector_nodes[picard]": (
        "0.4 s or more"
    ),
    "tests/test_learning.py::test_map_learns_a_sparse_contractive_tanh_model": "0.4 s or more",
    "tests/test_learning.py::test_map_recovers_the_generating_linear_cyclic_model": "0.4 s or more",
    "tests/test_learning.py::test_nuts_runs_on_a_small_cyclic_model": "0.4 s or more",
    "tests/test_learning.py::test_risk_averse_design_over_posterior_draws": "0.4 s or more",
    "tests/test_learning.py::test_svi_posterior_is_centred_on_the_truth": "0.4 s or more",
    "tests/test_noise_inference.py::test_map_by_svi_approaches_the_conjugate_posterior_mode": (
        "0.4 s or more"
    ),
    "tests/test_noise_inference.py::test_nuts_on_a_two_node_cycle_covers_the_truth": (
        "0.4 s or more"
    ),
    "tests/test_optimize.py::test_bounded_scale_stays_in_bounds_and_starts_at_identity": (
        "0.4 s or more"
    ),
    "tests/test_reduction_fit.py::test_fit_general_target_and_intervened_subset": "0.4 s or more",
    "tests/test_reduction_fit.py::test_fit_matches_analytic[chain]": "0.4 s or more",
    "tests/test_reduction_fit.py::test_fit_matches_analytic[random]": "0.4 s or more",
    "tests/test_simulators_tcr.py::test_double_well_reaches_both_wells_and_fits": "0.4 s or more",
    "tests/test_simulators_tcr.py::test_leontief_equilibrium_and_reduction": "0.4 s or more",
    "tests/test_solver_property.py::test_default_solves_contractive_tanh_networks": "0.4 s or more",
    "tests/test_solver_property.py::test_default_solves_non_normal_couplings": "0.4 s or more",
    "tests/test_solvers.py::test_newton_safeguard_converges_where_plain_newton_cycles": (
        "0.4 s or more"
    ),
    "tests/test_sweep.py::test_a_signal_during_a_checkpoint_write_is_delivered_after_it[15]": (
        "0.4 s or more"
    ),
    "tests/test_sweep.py::test_interrupted_run_leaves_no_output_and_resumes[15-False]": (
        "0.4 s or more"
    ),
    "tests/test_sweep.py::test_interrupted_run_leaves_no_output_and_resumes[2-True]": (
        "0.4 s or more"
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
