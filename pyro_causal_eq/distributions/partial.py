"""Noise on some components of a vector node (the others hard-intervened, noise-free)."""

from __future__ import annotations

import torch
from pyro.distributions import TorchDistribution, constraints


class PartialNoise(TorchDistribution):
    """Independent noise ``u_j ~ base_j`` on the components where ``active`` is true and
    exactly zero elsewhere: the noise of a vector node some of whose components are
    hard-intervened (``x_j := c_j``, no noise). ``log_prob`` sums over active components
    only, so a hard-intervened component contributes nothing (as in NODAGS-Flow).

    :param base: a distribution with batch shape ending in the node shape ``(d,)`` and
        scalar events (e.g. ``dist.Normal(torch.zeros(d), sigma)``).
    :param active: boolean mask of shape ``(d,)`` (or broadcastable with ``base``'s batch).

    >>> import pyro.distributions as dist
    >>> noise = PartialNoise(dist.Normal(torch.zeros(3), 1.0), torch.tensor([True, False, True]))
    >>> noise.rsample()[1], noise.event_shape
    (tensor(0.), torch.Size([3]))
    """

    arg_constraints: dict = {}
    support = constraints.independent(constraints.real, 1)
    has_rsample = True

    def __init__(self, base: TorchDistribution, active: torch.Tensor, validate_args=None):
        if base.event_shape != torch.Size() or len(base.batch_shape) < 1:
            raise ValueError(
                "PartialNoise needs a base with scalar events and the node's shape as its last "
                f"batch dim, got batch {tuple(base.batch_shape)}, event {tuple(base.event_shape)}"
            )
        active = torch.as_tensor(active, dtype=torch.bool)
        shape = torch.broadcast_shapes(base.batch_shape, active.shape)
        self.base, self.active = base.expand(shape), active.expand(shape)
        super().__init__(shape[:-1], shape[-1:], validate_args)

    def expand(self, batch_shape, _instance=None):
        shape = torch.Size(batch_shape) + self.event_shape
        return PartialNoise(self.base.expand(shape), self.active.expand(shape))

    def rsample(self, sample_shape=()) -> torch.Tensor:
        u = self.base.rsample(sample_shape)
        return torch.where(self.active, u, torch.zeros_like(u))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_p = self.base.log_prob(value)
        return torch.where(self.active, log_p, torch.zeros_like(log_p)).sum(-1)
