"""Test conventions: float64, one thread, fresh param store, validation on, fixed seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pyro
import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

SHARED_DATA = Path(
    os.environ.get("PCE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(autouse=True)
def _pyro_conventions():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.set_rng_seed(0)
    yield
    torch.set_default_dtype(previous)


def shared_data_dir(*parts: str) -> Path:
    """A folder of ``../shared/data``; skips when absent unless ``PCE_REQUIRE_SHARED_DATA=1``."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data folder {path} is absent"
        if os.environ.get("PCE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + " (PCE_REQUIRE_SHARED_DATA=1)")
        pytest.skip(message)
    return path


@pytest.fixture
def useeio_dir() -> Path:
    """``../shared/data/useeio``."""
    return shared_data_dir("useeio")
