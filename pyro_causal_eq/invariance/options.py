"""Options of the invariant-intervention learners, grouped in one frozen object."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..internals.convention import deprecated


@dataclass(frozen=True)
class InvariantOptions:
    """How :func:`~pyro_causal_eq.invariance.learn_invariant_intervention` (and
    :func:`~pyro_causal_eq.invariance.learn_compartmentalized_interventions`) build, train and
    check the replacement mechanism. ``steps``, ``lr``, ``seed`` and ``progress`` are arguments
    of the learners themselves (the package-wide convention).

    :param hidden: hidden widths of the default MLP.
    :param num_train: parameter draws used for training (raise it, e.g. to 256, when several
        parameters or an ``intervention_range`` vary: the held-out error is then limited by
        how densely the draws cover the range).
    :param num_test: held-out draws for the invariance error.
    :param lm_steps: Levenberg-Marquardt (damped Gauss-Newton) steps after Adam, on all
        training draws; one backward pass per residual, so keep ``num_train`` in the hundreds.
    :param lbfgs_steps: L-BFGS iterations after Levenberg-Marquardt (0 to skip).
    :param batch_size: minibatch of the Adam steps (default: all draws).
    :param reference: reference parameter values for the Proposition 3 check (default: means).
    :param check: evaluate Proposition 3 at the reference and warn with the failing part.
    :param intervention_range: intervened name -> distribution of the element's Lie-algebra
        coordinates (e.g. ``log u`` for ``Scale``); the mechanism then also reads these
        coordinates and works for every intervention in the range (single interventions only;
        compartments carry their own).
    :param network: a ``torch.nn.Module`` mapping standardized features (plus coordinates) to
        the standardized auxiliary value; default: an MLP with ``hidden`` layers (single
        interventions only; compartments carry their own).

    >>> options = InvariantOptions(hidden=(4,), num_train=16)
    >>> options.replace(lm_steps=5).lm_steps, options.num_test
    (5, 128)
    """

    hidden: Sequence[int] = (12, 12)
    num_train: int = 128
    num_test: int = 128
    lm_steps: int = 30
    lbfgs_steps: int = 0
    batch_size: int | None = None
    reference: Mapping | None = None
    check: bool = True
    intervention_range: Mapping[str, torch.distributions.Distribution] | None = None
    network: nn.Module | None = None

    def __post_init__(self):
        for name in ("num_train", "num_test"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"InvariantOptions.{name} must be positive")
        for name in ("lm_steps", "lbfgs_steps"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"InvariantOptions.{name} must be non-negative")
        if self.network is not None and not isinstance(self.network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module, got {self.network!r}")

    def replace(self, **changes) -> InvariantOptions:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


OPTION_NAMES = tuple(f.name for f in dataclasses.fields(InvariantOptions))


def merge_legacy(options: InvariantOptions | None, legacy: dict, caller: str) -> InvariantOptions:
    """``options`` with the deprecated keyword options ``legacy`` applied (warns)."""
    unknown = sorted(set(legacy) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword argument(s) {unknown}")
    options = InvariantOptions() if options is None else options
    if not isinstance(options, InvariantOptions):
        raise TypeError(f"options must be an InvariantOptions, got {options!r}")
    if legacy:
        given = ", ".join(f"{k}=..." for k in legacy)
        deprecated(
            f"{caller}(..., {given})",
            f"{caller}(..., options=InvariantOptions({given}))",
            stacklevel=4,
        )
        options = options.replace(**legacy)
    return options
