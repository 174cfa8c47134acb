"""Doctest conventions (package modules): one thread, fixed seeds, torch and pyro in scope."""

import pyro
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _doctest_conventions(doctest_namespace):
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    doctest_namespace["torch"] = torch
    doctest_namespace["pyro"] = pyro
    yield
