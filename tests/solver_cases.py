"""Shared parametrization of the core tests: solvers, batch shapes, contractive matrices."""

import contextlib

import torch

import pyro_causal_eq as pce

SOLVERS = {
    "default": contextlib.nullcontext,
    "newton": pce.Newton,
    "anderson": pce.Anderson,
    "picard": pce.Picard,
}
BATCH_SHAPES = [(), (3,), (2, 3)]


def contraction(n: int, radius: float = 0.6, seed: int = 0) -> torch.Tensor:
    """A random matrix with operator 2-norm ``radius`` (so spectral radius below it)."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    return a * (radius / torch.linalg.matrix_norm(a, ord=2))
