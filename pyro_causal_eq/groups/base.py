"""The interface shared by Lie group elements acting on node values."""

from __future__ import annotations

import math
from typing import Self

import torch


def as_tensor(value, name: str) -> torch.Tensor:
    """A floating-point tensor from ``value`` (keeping gradients), or a clear ``TypeError``."""
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a number or tensor, got {value!r}") from error
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def check_finite(tensor: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(tensor.detach()).all()):
        raise ValueError(f"{name} must be finite, got {tensor.detach()}")


class LieGroupElement:
    """An element ``g`` of a Lie group acting on structural assignments: ``x_k := g · f_k(Pa_k)``.

    Subclasses implement :meth:`act`, :meth:`_compose`, :meth:`inverse`, :meth:`log`,
    :meth:`exp` and :meth:`identity`. ``g * h`` is composition, with ``(g * h).act(x) ==
    g.act(h.act(x))``. Elements are parameterized for optimization in the Lie algebra (via
    :meth:`exp`), where the parameters are unconstrained.

    :attr event_dim: number of rightmost dimensions the action consumes (0 for elementwise
        groups, 1 for rotations of vectors).

    >>> from pyro_causal_eq.groups import Scale, Shift
    >>> g, h = Scale(2.0), Shift(1.0)
    >>> x = torch.tensor(3.0)
    >>> float((g * h)(x)), float(g(h(x)))  # composition is the action's composition
    (8.0, 8.0)
    >>> float(Scale.exp(g.log()).factor), float(g.inverse()(g(x)))
    (2.0, 3.0)
    """

    event_dim: int = 0
    _is_identity: bool = False

    def act(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x if self._is_identity else self.act(x)

    def __mul__(self, other: LieGroupElement) -> LieGroupElement:
        if not isinstance(other, LieGroupElement):
            return NotImplemented
        if type(self) is type(other):
            return self._compose(other)
        from .affine import Affine  # scale and shift compose into the affine group

        return Affine.promote(self)._compose(Affine.promote(other))

    def _compose(self, other: Self) -> Self:
        raise NotImplementedError

    def inverse(self) -> Self:
        raise NotImplementedError

    def log(self) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def exp(cls, algebra: torch.Tensor) -> Self:
        raise NotImplementedError

    @classmethod
    def identity(cls, shape=(), dtype: torch.dtype | None = None) -> Self:
        raise NotImplementedError

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """``log |det ∂(g·x)/∂x|`` with the batch shape of ``x`` minus :attr:`event_dim`."""
        raise NotImplementedError

    def to_transform(self) -> torch.distributions.Transform:
        """This element as a :class:`torch.distributions.Transform` (for sample sites)."""
        from .transform import GroupActionTransform

        return GroupActionTransform(self)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"{type(self).__name__}({fields})"

    def _fields(self) -> dict:
        return {}


def dimension_from_algebra(size: int) -> int:
    """``n`` such that ``n (n - 1) / 2 == size`` (the dimension of ``so(n)``)."""
    n = int(round((1 + math.sqrt(1 + 8 * size)) / 2))
    if n * (n - 1) // 2 != size:
        raise ValueError(f"{size} is not n(n-1)/2 for any n: not a vector of so(n) coordinates")
    return n
