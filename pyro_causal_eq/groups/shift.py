"""The additive group, acting elementwise by translation."""

from __future__ import annotations

import torch

from .base import LieGroupElement, as_tensor, check_finite


class Shift(LieGroupElement):
    """Shift intervention ``x := f(Pa) + δ``.

    The group is its own Lie algebra: ``exp`` and ``log`` are the identity map.

    :param delta: the shift, broadcast against the node value.

    >>> g = Shift(torch.tensor([1.0, -1.0]))
    >>> g(torch.zeros(2))
    tensor([ 1., -1.])
    >>> (g * g)(torch.zeros(2)), g.inverse().delta
    (tensor([ 2., -2.]), tensor([-1.,  1.]))
    """

    def __init__(self, delta):
        self.delta = as_tensor(delta, "Shift delta")
        check_finite(self.delta, "Shift delta")

    def act(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.delta

    def _compose(self, other: Shift) -> Shift:
        return Shift(self.delta + other.delta)

    def inverse(self) -> Shift:
        return Shift(-self.delta)

    def log(self) -> torch.Tensor:
        return self.delta

    @classmethod
    def exp(cls, algebra) -> Shift:
        return cls(algebra)

    @classmethod
    def identity(cls, shape=(), dtype=None) -> Shift:
        element = cls(torch.zeros(shape, dtype=dtype or torch.get_default_dtype()))
        element._is_identity = True
        return element

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def _fields(self) -> dict:
        return {"delta": self.delta}
