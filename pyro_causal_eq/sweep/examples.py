"""A small deterministic scenario function (a random Leontief economy solved densely), used by
the docs, the tests and the scaling benchmark."""

from __future__ import annotations

import time

import numpy as np
import xarray as xr


def leontief_scenario(n: int = 50, seed: int = 0, delay: float = 0.0) -> xr.Dataset:
    """Output ``x = (I - A)⁻¹ y`` of a random ``n``-sector economy (seeded), and its residual.

    :param n: sectors.
    :param seed: seed of ``A`` (column sums 0.6) and ``y``.
    :param delay: seconds to sleep first (to simulate a costly scenario).

    >>> float(leontief_scenario(4, 0).residual) < 1e-12
    True
    """
    if delay:
        time.sleep(delay)
    rng = np.random.default_rng(seed)
    A = rng.random((n, n))
    A *= 0.6 / A.sum(axis=0)
    y = rng.random(n)
    x = np.linalg.solve(np.eye(n) - A, y)
    residual = np.abs(x - A @ x - y).max() / np.abs(x).max()
    return xr.Dataset(
        {"total_output": float(x.sum()), "residual": float(residual), "x_max": float(x.max())}
    )
