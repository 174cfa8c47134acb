"""The multiplicative group of positive reals, acting elementwise."""

from __future__ import annotations

import torch

from .base import LieGroupElement, as_tensor, check_finite


class Scale(LieGroupElement):
    """Multiplicative Lie intervention ``x := α · f(Pa)`` with ``α > 0`` (elementwise).

    Build it from the factor ``α`` or from its logarithm (the Lie algebra coordinate, which is
    the right unconstrained parameter for optimization).

    :param factor: positive factor(s), broadcast against the node value.
    :param log: ``log α`` instead of ``factor``.

    >>> g = Scale(torch.tensor([2.0, 0.5]))
    >>> g(torch.tensor([1.0, 4.0]))
    tensor([2., 2.])
    >>> (g * g.inverse())(torch.tensor([3.0, 3.0]))
    tensor([3., 3.])
    >>> Scale(log=torch.zeros(2)).factor
    tensor([1., 1.])
    """

    def __init__(self, factor=None, *, log=None):
        if (factor is None) == (log is None):
            raise ValueError("Scale needs exactly one of `factor` or `log`")
        if log is not None:
            self._log = as_tensor(log, "Scale log-factor")
            check_finite(self._log, "Scale log-factor")
            self.factor = self._log.exp()
        else:
            self.factor = as_tensor(factor, "Scale factor")
            detached = self.factor.detach()
            if bool(torch.isnan(detached).any()) or not bool((detached > 0).all()):
                raise ValueError(
                    f"Scale factor must be positive (the group of positive reals); got {detached}"
                )
            check_finite(self.factor, "Scale factor")
            self._log = None

    def act(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x

    def _compose(self, other: Scale) -> Scale:
        return Scale(log=self.log() + other.log())

    def inverse(self) -> Scale:
        return Scale(log=-self.log())

    def log(self) -> torch.Tensor:
        return self.factor.log() if self._log is None else self._log

    @classmethod
    def exp(cls, algebra) -> Scale:
        return cls(log=algebra)

    @classmethod
    def identity(cls, shape=(), dtype=None) -> Scale:
        element = cls(torch.ones(shape, dtype=dtype or torch.get_default_dtype()))
        element._is_identity = True
        return element

    def log_abs_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        return self.log().expand(x.shape)

    def _fields(self) -> dict:
        return {"factor": self.factor}
