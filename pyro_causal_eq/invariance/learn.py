"""Learning invariant soft interventions (paper Definition 4, Proposition 3, Sec. 4)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from .conditions import check_proposition3
from .parameters import Parameters, reference_parameters, sample_parameters
from .result import InvariantIntervention
from .training import build_components, train
from .triplet import prepare_triplet


def learn_invariant_intervention(
    model: Callable,
    intervention: Mapping,
    invariant,
    auxiliary=None,
    parameters: Parameters | None = None,
    *,
    args: Sequence = (),
    kwargs: Mapping | None = None,
    intervention_range: Mapping[str, torch.distributions.Distribution] | None = None,
    network: nn.Module | None = None,
    hidden: Sequence[int] = (12, 12),
    num_train: int = 128,
    num_test: int = 128,
    steps: int = 200,
    lr: float = 1e-2,
    lbfgs_steps: int = 0,
    lm_steps: int = 30,
    batch_size: int | None = None,
    seed: int = 0,
    reference: Mapping | None = None,
    check: bool = True,
) -> InvariantIntervention:
    """Learn a soft intervention on ``auxiliary`` that keeps ``invariant`` at its unintervened
    equilibrium under ``intervention``, over a range of model parameters (Definition 4).

    The auxiliary node's mechanism is replaced (``pce.Replace``) by ``network`` (an MLP by
    default) of its parents in the unintervened graph only (no parameter values: parameters
    that enter only the auxiliary's own mechanism are invisible to the replacement, and the
    Proposition 3 check warns about them); in the intervened system other
    nodes read the invariant node at its unintervened value; the parameters, drawn from
    ``parameters``, are shared by the unintervened and intervened solves; the loss is the mean
    squared relative deviation of the invariant node, minimized through the implicit gradients
    (Adam, then Levenberg-Marquardt). The invariance error is measured on ``num_test`` fresh
    draws in the deployed intervened system (without the rewiring).

    :param model: a Pyro model built on :func:`~pyro_causal_eq.equilibrate`; it must accept
        batched parameters (leading batch dimension). Invariant and auxiliary nodes must be
        nodes of the same ``equilibrate`` system.
    :param intervention: intervened node or site -> Lie group element (e.g.
        ``{"efficiency": pce.Scale(0.6)}``).
    :param invariant: the invariant node: ``"z"``, or an element ``"y[0]"`` / ``("y", 0)``.
    :param auxiliary: the auxiliary node (default: the invariant node); may be an element.
    :param parameters: the free parameters: name -> ``torch`` distribution, where the name is a
        keyword argument of the model or one of its sample / param / deterministic sites; or
        a callable ``n -> {name: batched values}``.
    :param args: positional model arguments.
    :param kwargs: fixed keyword model arguments.
    :param intervention_range: intervened name -> distribution of the element's Lie-algebra
        coordinates (e.g. ``log u`` for ``Scale``); the mechanism then also reads these
        coordinates and works for every intervention in the range.
    :param network: a ``torch.nn.Module`` mapping standardized features (plus coordinates) to
        the standardized auxiliary value; default :func:`mlp` with ``hidden`` layers.
    :param hidden: hidden widths of the default MLP.
    :param num_train: parameter draws used for training (raise it, e.g. to 256, when several
        parameters or an ``intervention_range`` vary: the held-out error is then limited by
        how densely the draws cover the range).
    :param num_test: held-out draws for the invariance error.
    :param steps: Adam steps.
    :param lr: Adam learning rate.
    :param lbfgs_steps: L-BFGS iterations after Levenberg-Marquardt (0 to skip).
    :param lm_steps: Levenberg-Marquardt (damped Gauss-Newton) steps after Adam, on all
        training draws; one backward pass per residual, so keep ``num_train`` in the hundreds.
    :param batch_size: minibatch of the Adam steps (default: all draws).
    :param seed: seed of the draws and the network initialization.
    :param reference: reference parameter values for the Proposition 3 check (default: means).
    :param check: evaluate Proposition 3 at the reference and warn with the failing part.
    :returns: an :class:`InvariantIntervention`.
    :raises KeyError: unknown node, site or parameter names.
    :raises ValueError: auxiliary or invariant equal to the intervened node, invariant node (or
        element) not downstream of the intervention, auxiliary node without parents.
    :warns UserWarning: when the Proposition 3 condition fails at the reference (naming the
        failing part), and when the deployed intervened system has no stable equilibrium for
        some held-out draws (their error is ``inf``).

    >>> import torch, pyro_causal_eq as pce
    >>> def model(tau=torch.tensor(1.0)):  # paper eq. (4): x = τ, y = x + z / 2, z = y / 2
    ...     return pce.equilibrate(
    ...         "s", {"y": lambda z: tau + 0.5 * z, "z": lambda y: 0.5 * y},
    ...         init={"y": torch.zeros(()), "z": torch.zeros(())})
    >>> result = learn_invariant_intervention(
    ...     model, {"y": pce.Scale(1.3)}, "z",
    ...     parameters={"tau": torch.distributions.Uniform(0.5, 1.5)},
    ...     hidden=(4,), num_train=16, num_test=16, steps=0, lm_steps=10)
    >>> result.invariance_error < 1e-2
    True
    """
    if parameters is None:
        raise ValueError("parameters: give the distribution of the free model parameters")
    triplets_spec = [(intervention, invariant, auxiliary, intervention_range, network)]
    return fit(
        model,
        triplets_spec,
        parameters,
        args=args,
        kwargs=kwargs,
        hidden=hidden,
        num_train=num_train,
        num_test=num_test,
        steps=steps,
        lr=lr,
        lbfgs_steps=lbfgs_steps,
        lm_steps=lm_steps,
        batch_size=batch_size,
        seed=seed,
        reference=reference,
        check=check,
    )


def fit(
    model,
    specs,
    parameters,
    *,
    args=(),
    kwargs=None,
    hidden=(12, 12),
    num_train=128,
    num_test=128,
    steps=200,
    lr=1e-2,
    lbfgs_steps=0,
    lm_steps=30,
    batch_size=None,
    seed=0,
    reference=None,
    check=True,
    graph=None,
) -> InvariantIntervention:
    """Validate, check, build and jointly train one invariant intervention per spec
    ``(intervention, invariant, auxiliary, intervention_range, network)``."""
    ref = reference_parameters(parameters, reference)
    triplets = [
        prepare_triplet(model, i, j, k, ref, args, kwargs, graph=graph) for i, j, k, _, _ in specs
    ]
    reports = []
    if check:
        for i, j, k, _, _ in specs:
            report = check_proposition3(
                model, i, j, k, parameters, args=args, kwargs=kwargs, reference=reference
            )
            reports.append(report)
            if not report.learnable:
                warnings.warn(report.explain(), stacklevel=3)
    theta = sample_parameters(parameters, num_train, generator_seed=seed)
    test = sample_parameters(parameters, num_test, generator_seed=seed + 7919)
    torch.manual_seed(seed)
    components = build_components(
        model,
        triplets,
        [s[3] for s in specs],
        [s[4] for s in specs],
        hidden,
        theta,
        args,
        kwargs,
    )
    coords = [c.sample_coords(num_train) for c in components]
    test_coords = [c.sample_coords(num_test) for c in components]
    log = train(
        model,
        components,
        theta,
        coords,
        args=args,
        kwargs=kwargs,
        steps=steps,
        lr=lr,
        lbfgs_steps=lbfgs_steps,
        lm_steps=lm_steps,
        batch_size=batch_size,
    )
    result = InvariantIntervention(model, components, args, kwargs, log, reports)
    elements: dict = {}
    for c, cc in zip(components, test_coords, strict=True):
        if cc is not None:
            elements.update(c.elements(cc))
    result.errors = result.evaluate(test, elements or None)
    result.test_parameters, result.test_intervention = test, elements
    return result
