"""A cyclic SCM with additive noise as a Pyro model: linear or contractive ``tanh``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from ..distributions import PartialNoise
from ..ops import equilibrate
from .environments import Environment

KINDS = ("linear", "tanh")


def off_diagonal(d: int) -> torch.Tensor:
    """Flat indices of the off-diagonal entries of a ``d x d`` matrix (no self-loops)."""
    return torch.nonzero(~torch.eye(d, dtype=torch.bool).reshape(-1)).squeeze(-1)


def weights(flat: torch.Tensor, d: int) -> torch.Tensor:
    """The ``(…, d, d)`` matrix with zero diagonal from its ``d (d-1)`` off-diagonal entries."""
    out = flat.new_zeros(flat.shape[:-1] + (d * d,))
    out = out.index_copy(-1, off_diagonal(d).to(flat.device), flat)
    return out.reshape(flat.shape[:-1] + (d, d))


@dataclass
class CyclicSCM:
    """``x = f(x) + u`` on ``d`` nodes, one vector node ``"x"``, with
    ``f(x) = W x + b`` (``kind="linear"``) or ``f(x) = tanh(W x) + b`` (``kind="tanh"``),
    ``u ~ N(0, diag σ²)``, ``W`` with zero diagonal (cycles allowed). Priors: Laplace on the
    off-diagonal ``W`` (sparsity), normal on ``b``, log-normal on ``σ`` (or ``σ`` known).

    :meth:`model` scores data sets gathered in several :class:`Environment` s (hard, shift,
    scale interventions on known targets) exactly, in one batched
    :func:`~pyro_causal_eq.equilibrate` call with noise and ``obs``: sample ``i`` follows
    ``x = where(m_i, c_i, a_i ⊙ f(x) + s_i) + u`` with noise off its hard targets ``m_i``
    (:class:`~pyro_causal_eq.distributions.PartialNoise`). The same environments are
    :func:`~pyro_causal_eq.do` actions on a single-environment model
    (:meth:`Environment.action`).

    :param d: number of nodes.
    :param kind: ``"linear"`` or ``"tanh"``.
    :param w_scale: scale of the Laplace prior on ``W``.
    :param sigma: known noise scale(s), or ``None`` to learn ``σ``.
    :param logdet: log-determinant method of :func:`~pyro_causal_eq.equilibrate` (``"auto"``:
        exact; a :class:`~pyro_causal_eq.distributions.Hutchinson` for the power series).

    >>> scm = CyclicSCM(3, "linear", sigma=1.0)
    >>> W = torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5], [0.5, 0.0, 0.0]])
    >>> data = scm.simulate({"W": W, "b": torch.zeros(3)}, [Environment()], 4, seed=0)
    >>> data[0].shape
    torch.Size([4, 3])
    """

    d: int
    kind: str = "linear"
    w_scale: float = 0.3
    b_scale: float = 2.0
    sigma: float | torch.Tensor | None = None
    logdet: object = "auto"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"CyclicSCM kind must be one of {KINDS}, got {self.kind!r}")
        if self.d < 2:
            raise ValueError(f"CyclicSCM needs at least 2 nodes, got {self.d}")

    def mechanism(self, W: torch.Tensor, b: torch.Tensor):
        """``f`` for (possibly batched) parameters ``W (…, d, d)``, ``b (…, d)``."""
        b = b.unsqueeze(-2) if b.dim() > 1 else b  # batched params meet the data plate

        def f(x: torch.Tensor) -> torch.Tensor:
            linear = (W.unsqueeze(-3) @ x.unsqueeze(-1)).squeeze(-1) if W.dim() > 2 else x @ W.T
            return (linear if self.kind == "linear" else torch.tanh(linear)) + b

        return f

    def _parameters(self):
        d, dtype = self.d, torch.get_default_dtype()
        flat = pyro.sample(
            "W", dist.Laplace(torch.zeros(d * (d - 1), dtype=dtype), self.w_scale).to_event(1)
        )
        b = pyro.sample("b", dist.Normal(torch.zeros(d, dtype=dtype), self.b_scale).to_event(1))
        if self.sigma is None:
            sigma = pyro.sample(
                "sigma", dist.LogNormal(torch.zeros(d, dtype=dtype), 0.5).to_event(1)
            )
        else:
            sigma = torch.as_tensor(self.sigma, dtype=dtype).expand(d)
        return weights(flat, d), b, sigma

    def model(
        self,
        environments: Sequence[Environment],
        data: Sequence[torch.Tensor] | None = None,
        n: int | None = None,
    ) -> list[torch.Tensor]:
        """The joint model of all environments; ``data[i]`` is ``(n_i, d)`` (or simulate
        ``n`` samples each when ``data`` is ``None``)."""
        sizes = self._sizes(environments, data, n)
        W, b, sigma = self._parameters()
        f = self.mechanism(W, b)
        mask, value, scale, shift = self._stacked(environments, sizes, b.dtype)

        def intervened(x: torch.Tensor) -> torch.Tensor:
            return torch.where(mask, value, scale * f(x) + shift)

        sigma = sigma.unsqueeze(-2) if sigma.dim() > 1 else sigma
        noise = PartialNoise(dist.Normal(torch.zeros_like(sigma), sigma), ~mask)
        obs = None if data is None else torch.cat(list(data))
        with pyro.plate("samples", sum(sizes), dim=-1):
            x = equilibrate(
                "cyclic_scm",
                {"x": intervened},
                init={"x": torch.zeros(self.d, dtype=b.dtype)},
                noise={"x": noise},
                obs=None if obs is None else {"x": obs},
                logdet=self.logdet,
            )["x"]
        return list(x.split(sizes, dim=-2))

    def _stacked(self, environments, sizes, dtype) -> tuple[torch.Tensor, ...]:
        """Per-sample intervention tensors of all environments (cached: SVI calls the model
        with the same environments at every step)."""
        key = (repr(list(environments)), tuple(sizes), dtype)
        cache = self.__dict__.setdefault("_rows_cache", {})
        if key not in cache:
            rows = [
                env.rows(self.d, size, dtype) for env, size in zip(environments, sizes, strict=True)
            ]
            cache.clear()
            cache[key] = tuple(
                torch.cat([r[k] for r in rows]) for k in ("mask", "value", "scale", "shift")
            )
        return cache[key]

    def _sizes(self, environments, data, n) -> list[int]:
        if data is not None:
            if len(data) != len(environments):
                raise ValueError(f"{len(data)} data sets for {len(environments)} environments")
            for i, block in enumerate(data):
                if block.dim() != 2 or block.shape[-1] != self.d:
                    raise ValueError(
                        f"data set {i} has shape {tuple(block.shape)}, expected (n, {self.d})"
                    )
                if block.dtype != torch.get_default_dtype():
                    raise TypeError(
                        f"data set {i} is {block.dtype}, but the model's parameters take "
                        f"torch's default dtype {torch.get_default_dtype()}: convert the data "
                        f"or call torch.set_default_dtype({block.dtype}) before fitting"
                    )
            return [block.shape[0] for block in data]
        if n is None:
            raise ValueError("give data, or the number n of samples to simulate")
        return [n] * len(environments)

    def simulate(self, params: Mapping[str, torch.Tensor], environments, n: int, seed=None):
        """Samples of every environment at fixed parameters (``W`` as a ``d x d`` matrix)."""
        if seed is not None:
            pyro.set_rng_seed(seed)
        data = self._condition(params)
        with torch.no_grad():
            return [x.detach() for x in poutine.condition(self.model, data)(environments, n=n)]

    def _condition(self, params: Mapping[str, torch.Tensor]) -> dict:
        data = dict(params)
        if "W" in data and data["W"].shape[-2:] == (self.d, self.d):
            data["W"] = data["W"].reshape(data["W"].shape[:-2] + (-1,))[..., off_diagonal(self.d)]
        return data

    def log_likelihood(self, params: Mapping[str, torch.Tensor], environments, data):
        """``Σ_i log p(data_i | params, environment i)``, exact (per environment)."""
        model = poutine.condition(self.model, self._condition(params))
        trace = poutine.trace(model).get_trace(environments, data)
        trace.compute_log_prob()
        sizes = [block.shape[0] for block in data]
        return [part.sum() for part in trace.nodes["x"]["log_prob"].split(sizes, dim=-1)]
