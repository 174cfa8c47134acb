"""Experimental environments: interventions on known targets of a vector node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyro.distributions as dist
import torch

from ..distributions import PartialNoise
from ..distributions.equilibrium import with_parents
from ..groups import Scale, Shift
from ..interventions import Replace

KINDS = ("observational", "hard", "shift", "scale")


@dataclass(frozen=True)
class Environment:
    """One experimental condition: an intervention of ``kind`` on the components ``targets``.

    - ``"observational"``: no intervention;
    - ``"hard"``: ``x_j := value_j`` (no noise on ``j``; NODAGS-Flow's interventions);
    - ``"shift"``: ``x_j := f_j(x) + value_j + u_j`` (a :class:`~pyro_causal_eq.Shift`);
    - ``"scale"``: ``x_j := value_j f_j(x) + u_j`` (a :class:`~pyro_causal_eq.Scale`).

    :param targets: intervened component indices.
    :param kind: one of :data:`KINDS`.
    :param value: the value, shift or factor (a scalar or one per target).

    >>> env = Environment(targets=(1,), kind="shift", value=2.0)
    >>> env.mask(3)
    tensor([False,  True, False])
    """

    targets: Sequence[int] = ()
    kind: str = "observational"
    value: float | Sequence[float] = 0.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Environment kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind != "observational" and not len(self.targets):
            raise ValueError(f"a {self.kind!r} environment needs targets")
        if self.kind == "scale" and not bool((torch.as_tensor(self.value) > 0).all()):
            raise ValueError(f"scale factors must be positive, got {self.value}")

    def mask(self, d: int) -> torch.Tensor:
        mask = torch.zeros(d, dtype=torch.bool)
        if len(self.targets):
            index = torch.as_tensor(list(self.targets))
            if bool((index < 0).any()) or bool((index >= d).any()):
                raise IndexError(f"targets {list(self.targets)} out of range for {d} nodes")
            mask[index] = True
        return mask

    def _vector(self, d: int, fill: float, dtype) -> torch.Tensor:
        out = torch.full((d,), fill, dtype=dtype)
        out[self.mask(d)] = torch.as_tensor(self.value, dtype=dtype)
        return out

    def action(self, mechanism: Callable, d: int, node: str = "x", dtype=None):
        """The ``pce.do`` action of this environment on ``node`` (``None`` if observational);
        ``mechanism`` maps the node's value to ``f(x)``."""
        dtype = dtype or torch.get_default_dtype()
        if self.kind == "shift":
            return Shift(self._vector(d, 0.0, dtype))
        if self.kind == "scale":
            return Scale(self._vector(d, 1.0, dtype))
        if self.kind == "hard":
            mask, value = self.mask(d), self._vector(d, 0.0, dtype)
            return Replace(
                with_parents(lambda **v: torch.where(mask, value, mechanism(v[node])), (node,))
            )
        return None

    def rows(self, d: int, n: int, dtype=None) -> dict[str, torch.Tensor]:
        """The environment as per-sample tensors ``(n, d)``: hard ``mask`` and ``value``,
        ``scale`` and ``shift``, so that ``x = where(mask, value, scale f(x) + shift) + u``
        (noise off the mask) covers every kind in one batched system."""
        dtype = dtype or torch.get_default_dtype()
        hard = self.kind == "hard"
        zeros, ones = torch.zeros(d, dtype=dtype), torch.ones(d, dtype=dtype)
        rows = {
            "mask": self.mask(d) if hard else torch.zeros(d, dtype=torch.bool),
            "value": self._vector(d, 0.0, dtype) if hard else zeros,
            "scale": self._vector(d, 1.0, dtype) if self.kind == "scale" else ones,
            "shift": self._vector(d, 0.0, dtype) if self.kind == "shift" else zeros,
        }
        return {k: v.expand(n, d) for k, v in rows.items()}

    def noise(self, sigma: torch.Tensor):
        """Noise of the node: none on hard-intervened components."""
        d = sigma.shape[-1]
        base = dist.Normal(torch.zeros_like(sigma), sigma)
        if self.kind == "hard":
            return PartialNoise(base, ~self.mask(d))
        return base.to_event(1)
