"""Learning invariant soft interventions (paper Definition 4, Proposition 3, Sec. 4)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence

from ..internals.convention import Progress, seeded
from .conditions import check_proposition3
from .loop import train
from .options import InvariantOptions, merge_legacy
from .parameters import Parameters, reference_parameters, sample_parameters
from .result import InvariantIntervention
from .training import build_components
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
    steps: int = 200,
    lr: float = 1e-2,
    seed: int | None = 0,
    progress=False,
    options: InvariantOptions | None = None,
    **legacy_options,
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
    :param steps: Adam steps (then ``options.lm_steps`` Levenberg-Marquardt steps).
    :param lr: Adam learning rate.
    :param seed: seed of the parameter draws and the network initialization (``None``: the
        global stream, not reseeded).
    :param progress: ``True`` for a tqdm bar (Adam and Levenberg-Marquardt steps), or a bar.
    :param options: an :class:`~pyro_causal_eq.invariance.InvariantOptions` (network, draws,
        polishing steps, ``intervention_range``, Proposition 3 check).
    :param legacy_options: deprecated: the fields of ``InvariantOptions`` as keywords.
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
    >>> from pyro_causal_eq.invariance import InvariantOptions
    >>> result = learn_invariant_intervention(
    ...     model, {"y": pce.Scale(1.3)}, "z",
    ...     parameters={"tau": torch.distributions.Uniform(0.5, 1.5)}, steps=0,
    ...     options=InvariantOptions(hidden=(4,), num_train=16, num_test=16, lm_steps=10))
    >>> result.invariance_error < 1e-2
    True
    """
    options = merge_legacy(options, legacy_options, "learn_invariant_intervention")
    if parameters is None:
        raise ValueError("parameters: give the distribution of the free model parameters")
    specs = [(intervention, invariant, auxiliary, options.intervention_range, options.network)]
    return learn_jointly(
        model,
        specs,
        parameters,
        args=args,
        kwargs=kwargs,
        steps=steps,
        lr=lr,
        seed=seed,
        progress=progress,
        options=options,
    )


def learn_jointly(
    model,
    specs,
    parameters,
    *,
    args=(),
    kwargs=None,
    steps=200,
    lr=1e-2,
    seed=0,
    progress=False,
    options: InvariantOptions,
    graph=None,
) -> InvariantIntervention:
    """Validate, check, build and jointly train one invariant intervention per spec
    ``(intervention, invariant, auxiliary, intervention_range, network)``."""
    ref = reference_parameters(parameters, options.reference)
    triplets = [
        prepare_triplet(model, i, j, k, ref, args, kwargs, graph=graph) for i, j, k, _, _ in specs
    ]
    reports = _check(model, specs, parameters, args, kwargs, options) if options.check else []
    test_seed = None if seed is None else seed + 7919
    theta = sample_parameters(parameters, options.num_train, generator_seed=seed)
    test = sample_parameters(parameters, options.num_test, generator_seed=test_seed)
    with seeded(seed):  # the network initialization and the intervention coordinates
        components = build_components(
            model,
            triplets,
            [s[3] for s in specs],
            [s[4] for s in specs],
            options.hidden,
            theta,
            args,
            kwargs,
        )
        coords = [c.sample_coords(options.num_train) for c in components]
        test_coords = [c.sample_coords(options.num_test) for c in components]
        with Progress(progress, steps + options.lm_steps, "invariance") as bar:
            log = train(
                model,
                components,
                theta,
                coords,
                args=args,
                kwargs=kwargs,
                steps=steps,
                lr=lr,
                lbfgs_steps=options.lbfgs_steps,
                lm_steps=options.lm_steps,
                batch_size=options.batch_size,
                progress=bar,
            )
    result = InvariantIntervention(model, components, args, kwargs, log, reports)
    elements: dict = {}
    for c, cc in zip(components, test_coords, strict=True):
        if cc is not None:
            elements.update(c.elements(cc))
    errors = result.evaluate(test, elements or None)
    return dataclasses.replace(
        result, errors=errors, test_parameters=test, test_intervention=elements
    )


def _check(model, specs, parameters, args, kwargs, options) -> list:
    """Proposition 3 at the reference point, warning with the failing part."""
    reports = []
    for i, j, k, _, _ in specs:
        report = check_proposition3(
            model, i, j, k, parameters, args=args, kwargs=kwargs, reference=options.reference
        )
        reports.append(report)
        if not report.learnable:
            warnings.warn(report.explain(), stacklevel=4)
    return reports
