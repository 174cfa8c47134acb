"""A group element as a :class:`torch.distributions.Transform` (pushforward of sample sites)."""

from __future__ import annotations

import torch
from torch.distributions import Transform, constraints

from .base import LieGroupElement


class GroupActionTransform(Transform):
    """``x ↦ g · x`` as a bijective transform, so a soft intervention on a sample site is the
    pushforward distribution ``g_* P`` (log-densities stay exact under ``pyro.condition``).

    :param element: the group element.

    >>> from pyro_causal_eq.groups import Shift
    >>> t = GroupActionTransform(Shift(1.0))
    >>> t(torch.tensor(0.0)), t.inv(torch.tensor(1.0))
    (tensor(1.), tensor(0.))
    """

    bijective = True

    def __init__(self, element: LieGroupElement, cache_size: int = 0):
        super().__init__(cache_size=cache_size)
        self.element = element
        self._inverse_element = element.inverse()

    @property
    def domain(self):
        return constraints.independent(constraints.real, self.element.event_dim)

    @property
    def codomain(self):
        return constraints.independent(constraints.real, self.element.event_dim)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        return self.element(x)

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        return self._inverse_element(y)

    def log_abs_det_jacobian(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.element.log_abs_det_jacobian(x)
