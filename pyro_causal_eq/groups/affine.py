"""The elementwise affine (shift-scale) group ``x ↦ s x + t`` with ``s > 0``."""

from __future__ import annotations

import torch

from .base import LieGroupElement, as_tensor, check_finite


def _expm1_over(a: torch.Tensor) -> torch.Tensor:
    """``(e^a - 1) / a``, equal to 1 at ``a = 0`` and smooth around it."""
    small = a.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(a), a)
    return torch.where(small, 1.0 + a / 2.0 + a * a / 6.0, torch.expm1(safe) / safe)


class Affine(LieGroupElement):
    """Affine intervention ``x := s · f(Pa) + t`` (``s > 0``), composition ``g h = g ∘ h``.

    Lie algebra coordinates ``(a, b)`` represent ``[[a, b], [0, 0]]``, so
    ``exp(a, b) = (e^a, b (e^a - 1) / a)``.

    :param scale: positive scale(s) ``s``.
    :param shift: shift(s) ``t``.

    >>> g = Affine(2.0, 1.0)
    >>> g(torch.tensor(3.0)), g.inverse()(torch.tensor(7.0))
    (tensor(7.), tensor(3.))
    >>> h = Affine.exp(g.log())
    >>> bool(torch.allclose(h.scale, g.scale) and torch.allclose(h.shift, g.shift))
    True
    """

    def __init__(self, scale, shift):
        self.scale = as_tensor(scale, "Affine scale")
        self.shift = as_tensor(shift, "Affine shift")
        detached = self.scale.detach()
        if bool(torch.isnan(detached).any()) or not bool((detached > 0).all()):
            raise ValueError(f"Affine scale must be positive; got {detached}")
        check_finite(self.scale, "Affine scale")
        check_finite(self.shift, "Affine shift")

    @classmethod
    def promote(cls, element: LieGroupElement) -> Affine:
        """View a :class:`Scale` or :class:`Shift` as an affine element."""
        from .scale import Scale
        from .shift import Shift

        if isinstance(element, Affine):
            return element
        if isinstance(element, Scale):
            return cls(element.factor, torch.zeros_like(element.factor))
        if isinstance(element, Shift):
            return cls(torch.ones_like(element.delta), element.delta)
        raise TypeError(f"cannot compose {type(element).__name__} with an affine element")

    def act(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.shift

    def _compose(self, other: Affine) -> Affine:
        return Affine(self.scale * other.scale, self.scale * other.shift + self.shift)

    def inverse(self) -> Affine:
        return Affine(1.0 / self.scale, -self.shift / self.scale)

    def log(self) -> torch.Tensor:
        """Stacked algebra coordinates ``(a, b)`` along a new last dimension."""
        a = self.scale.log()
        a, shift = torch.broadcast_tensors(a, self.shift)
        return torch.stack([a, shift / _expm1_over(a)], dim=-1)

    @classmethod
    def exp(cls, algebra) -> Affine:
        algebra = as_tensor(algebra, "Affine algebra")
        if algebra.shape[-1:] != (2,):
            raise ValueError(
                "Affine algebra needs a last dimension of size 2 (a, b), "
                f"got {tuple(algebra.shape)}"
            )
        a, b = algebra[..., 0], algebra[..., 1]
        return cls(a.exp(), b * _expm1_over(a))

    @classmethod
    def identity(cls, shape=(), dtype=None) -> Affine:
        dtype = dtype or torch.get_default_dtype()
        element = cls(torch.ones(shape, dtype=dtype), torch.zeros(shape, dtype=dtype))
        element._is_identity = True
        return element

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale.log().expand(x.shape)

    def _fields(self) -> dict:
        return {"scale": self.scale, "shift": self.shift}
