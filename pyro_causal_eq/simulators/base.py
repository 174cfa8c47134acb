"""Shared template of the shift-intervention simulators: seeded, vectorized data sets.

A subclass provides the Pyro :meth:`~ShiftSimulator.model`, the prior
:meth:`~ShiftSimulator.sample_interventions`, the map :meth:`~ShiftSimulator.shift_actions`
from interventions to ``pce.do`` actions, and either :meth:`~ShiftSimulator.target` (when the
model returns ``X``) or :meth:`~ShiftSimulator.observables` (to read ``X`` and ``Y`` elsewhere
in the trace).

>>> from pyro_causal_eq.simulators.base import ShiftSimulator
>>> class Pair(ShiftSimulator):  # X0 ~ N(0, 1), X1 ~ N(X0, 1); shift X0; target X1
...     def model(self):
...         x0 = pyro.sample("X0", pyro.distributions.Normal(torch.zeros(()), 1.0))
...         return torch.stack([x0, pyro.sample("X1", pyro.distributions.Normal(x0, 1.0))], -1)
...     def sample_interventions(self, n_interventions):
...         return torch.randn(n_interventions, 1)
...     def shift_actions(self, interventions):
...         return {"X0": pce.Shift(interventions)}
...     def target(self, x):
...         return x[..., 1]
>>> import pyro_causal_eq as pce
>>> data = Pair().simulate(n_interventions=3, n_samples=4, seed=0)
>>> data.x.shape, data.y.shape, bool((data.y == data.x[..., 1]).all())
(torch.Size([3, 4, 2]), torch.Size([3, 4]), True)
"""

from __future__ import annotations

import pyro
import torch

from ..handlers import do
from ..internals.convention import seeded
from .data import INTERVENTION_SITE, X_SITE, Y_SITE, InterventionalData, observe


class ShiftSimulator:
    """Template for simulators whose interventions are shifts applied with ``pce.do``.

    Samples are drawn under ``pyro.plate("interventions", I, dim=-2)`` ×
    ``pyro.plate("samples", S, dim=-1)``, so the actions returned by :meth:`shift_actions`
    carry a singleton sample dimension (shape ``(I, 1, …)``).
    """

    def model(self) -> torch.Tensor:
        """The low-level simulator as a Pyro model."""
        raise NotImplementedError

    def sample_interventions(self, n_interventions: int) -> torch.Tensor:
        """``(I, N)`` draws of the intervention prior."""
        raise NotImplementedError

    def shift_actions(self, interventions: torch.Tensor) -> dict:
        """The ``pce.do`` actions (site → :class:`~pyro_causal_eq.Shift`) of ``(I, N)``
        interventions."""
        raise NotImplementedError

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The target ``Y`` of low-level samples ``X`` (used by :meth:`observables`)."""
        raise NotImplementedError

    def observables(self, trace) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, Y)`` of a model trace; by default ``X`` is the model's return value."""
        x = trace.nodes["_RETURN"]["value"]
        return x, self.target(x)

    def _trace(self, interventions: torch.Tensor, n_samples: int):
        actions = self.shift_actions(interventions)
        n_int = interventions.shape[0]
        with pyro.plate("interventions", n_int, dim=-2), pyro.plate("samples", n_samples, dim=-1):
            return pyro.poutine.trace(do(self.model, actions=actions)).get_trace()

    def sample(self, interventions: torch.Tensor, n_samples: int) -> torch.Tensor:
        """``(I, S, N)`` samples of ``X`` under each shift intervention."""
        return self.observables(self._trace(interventions, n_samples))[0]

    def simulate(
        self, n_interventions: int, n_samples: int, seed: int | None = None, interventions=None
    ) -> InterventionalData:
        """A data set of ``n_interventions × n_samples`` (seeded, vectorized, reusable).

        :param n_interventions: number of interventions ``I`` (ignored when given).
        :param n_samples: samples ``S`` per intervention.
        :param seed: seed of the torch/Pyro random streams (``None``: not reseeded).
        :param interventions: ``(I, N)`` interventions to use instead of prior draws.
        """
        with seeded(seed), torch.no_grad():
            if interventions is None:
                interventions = self.sample_interventions(n_interventions)
            x, y = self.observables(self._trace(interventions, n_samples))
        return InterventionalData(interventions, x, y)

    def simulating_model(self, n_interventions: int, n_samples: int):
        """A Pyro model that simulates a fresh data set at every call (the paper's protocol)
        and records it as sites ``"i"``, ``"X"``, ``"Y"`` for :class:`TCRLoss`."""

        def model(*args, **kwargs):
            with torch.no_grad():
                data = self.simulate(n_interventions, n_samples)
            observe(INTERVENTION_SITE, data.interventions)
            observe(X_SITE, data.x)
            observe(Y_SITE, data.y)
            return data

        return model
