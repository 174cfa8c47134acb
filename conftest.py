"""Test-wide conventions: doctests (package modules) get one thread, fixed seeds, torch and
pyro in scope; heavy tests get the ``slow`` marker, from one list (``SLOW_TESTS``).

The fast loop for contributors is ``bash scripts/test.sh -m "not slow"`` (under a minute); CI
(``.ci/run``) runs everything. To mark a test slow, add its node id (or an ``fnmatch`` pattern of
node ids, matched case-insensitively) below with the reason; test files need no change.
"""

from fnmatch import fnmatch

import pyro
import pytest
import torch

torch.set_num_threads(1)

SLOW_TESTS = {
    # every tutorial notebook, executed end to end in a kernel
    "tests/test_tutorials.py::*": "notebooks",
    # builds the whole site (API pages, notebooks) and opens it in a browser
    "tests/test_docs.py::test_site_*": "docs build",
    # start a dask LocalCluster (processes)
    "tests/test_sweep.py::*cluster*": "LocalCluster",
    # certified sweeps and fits on the 411-sector USEEIO table
    "tests/test_economics_tradeoff.py::test_useeio_sweep_is_exact": "411 sectors",
}


def is_slow(nodeid: str) -> bool:
    """Whether a test's node id matches a pattern of ``SLOW_TESTS``."""
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
