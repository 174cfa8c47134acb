"""Interventional data sets for targeted causal reduction, and the Pyro model that observes one.

A TCR data set holds ``I`` shift interventions ``i`` (``(I, D)``) and, for each of them, ``S``
samples of the low-level variables ``X`` (``(I, S, N)``) and of the target ``Y`` (``(I, S)``).
Simulators (:mod:`pyro_causal_eq.simulators`) produce one with their ``simulate`` method, which
applies the interventions with :func:`pyro_causal_eq.do` and :class:`pyro_causal_eq.Shift`.

The model handed to :class:`pyro.infer.SVI` is :func:`data_model`: it records the data set as
observed sample sites ``"i"``, ``"X"`` and ``"Y"``, which :class:`~pyro_causal_eq.reduction.TCRLoss`
reads from the model trace (any model recording these three sites works, including one that
simulates fresh data at every step).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyro
import pyro.distributions as dist
import torch

from .statistics import InterventionStatistics

INTERVENTION_SITE = "i"
X_SITE = "X"
Y_SITE = "Y"


@dataclass(frozen=True)
class InterventionalData:
    """``I`` interventions with ``S`` samples each.

    :param interventions: ``(I, D)`` shift interventions.
    :param x: ``(I, S, N)`` low-level samples.
    :param y: ``(I, S)`` target samples.

    >>> data = InterventionalData(torch.zeros(4, 2), torch.randn(4, 8, 2), torch.randn(4, 8))
    >>> data.n_interventions, data.n_samples, data.n_low
    (4, 8, 2)
    """

    interventions: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if self.x.dim() != 3 or self.y.shape != self.x.shape[:2]:
            raise ValueError(
                f"x must be (I, S, N) and y (I, S); got x {tuple(self.x.shape)}, y "
                f"{tuple(self.y.shape)}"
            )
        if self.interventions.dim() != 2 or self.interventions.shape[0] != self.x.shape[0]:
            raise ValueError(
                f"interventions must be ({self.x.shape[0]}, D), got "
                f"{tuple(self.interventions.shape)}"
            )

    @property
    def n_interventions(self) -> int:
        return self.x.shape[0]

    @property
    def n_samples(self) -> int:
        return self.x.shape[1]

    @property
    def n_low(self) -> int:
        return self.x.shape[2]

    def statistics(
        self, keep_samples: bool | None = None, unbiased: bool = False
    ) -> InterventionStatistics:
        """The per-intervention sample moments (see :class:`InterventionStatistics`)."""
        return InterventionStatistics.from_samples(
            self.interventions, self.x, self.y, keep_samples, unbiased
        )

    def model(self) -> InterventionalData:
        """Run :func:`data_model` on this data set (a Pyro model without arguments)."""
        return data_model(self)

    def __getitem__(self, index) -> InterventionalData:
        """A subset of the interventions (all their samples)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return InterventionalData(self.interventions[index], self.x[index], self.y[index])


def data_model(data, x: torch.Tensor | None = None, y: torch.Tensor | None = None):
    """A Pyro model that observes a TCR data set as sample sites ``"i"``, ``"X"``, ``"Y"``.

    The sites carry no likelihood (they are masked point masses): the TCR loss reads their
    values. Pass this function as the ``model`` of :class:`pyro.infer.SVI`, and the data set
    (or the three tensors) to ``svi.step``.

    :param data: an :class:`InterventionalData`, or the ``(I, D)`` interventions tensor when
        ``x`` and ``y`` are given.
    :param x: ``(I, S, N)`` low-level samples (when ``data`` is a tensor).
    :param y: ``(I, S)`` target samples (when ``data`` is a tensor).

    >>> data = InterventionalData(torch.zeros(2, 1), torch.randn(2, 3, 1), torch.randn(2, 3))
    >>> tr = pyro.poutine.trace(data_model).get_trace(data)
    >>> tr.nodes["X"]["value"].shape, tr.nodes["X"]["is_observed"]
    (torch.Size([2, 3, 1]), True)
    """
    if isinstance(data, torch.Tensor) and x is not None and y is not None:
        data = InterventionalData(data, x, y)
    if not isinstance(data, InterventionalData):
        raise TypeError(
            "data_model expects an InterventionalData or (interventions, x, y) tensors, got "
            f"{type(data).__name__}"
        )
    for name, value in (
        (INTERVENTION_SITE, data.interventions),
        (X_SITE, data.x),
        (Y_SITE, data.y),
    ):
        observe(name, value)
    return data


def observe(name: str, value: torch.Tensor) -> torch.Tensor:
    """Record ``value`` as an observed sample site without likelihood."""
    fn = dist.Delta(value, event_dim=value.dim()).mask(False)
    return pyro.sample(name, fn, obs=value)
