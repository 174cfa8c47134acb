"""Learning invariant soft interventions (paper Definition 4, Proposition 3, Sec. 4)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..errors import EquilibriumError
from ..interventions import Replace
from .conditions import Proposition3Report, check_proposition3, prepare_triplet
from .parameters import Parameters, reference_parameters, sample_parameters
from .training import (
    TrainingLog,
    applied,
    build_components,
    node_value,
    relative_errors,
    run_trace,
    train,
)


class InvariantIntervention:
    """Trained invariant intervention(s): the Lie intervention(s) plus learned replacement
    mechanism(s) of the auxiliary node(s), and their held-out invariance error.

    Use :meth:`handler` (a context manager) or :meth:`intervened_model` to run the intervened
    system; for a whole auxiliary node :meth:`actions` gives the equivalent ``pce.do`` actions
    ``{intervened: g, auxiliary: pce.Replace(mechanism)}``.

    :attr mechanism: the trained :class:`~pyro_causal_eq.invariance.InvariantMechanism`
        (a ``torch.nn.Module`` called with the auxiliary node's parents as keywords).
    :attr invariance_error: max relative deviation of the invariant node(s) over the held-out
        parameters, in the deployed intervened system (no rewiring).
    :attr errors: per invariant node, the relative deviation on each held-out draw.
    :attr log: training losses and wall time.
    :attr reports: Proposition 3 reports at the reference point (when checked).
    """

    def __init__(self, model, components, args, kwargs, log, reports):
        self.model, self.components, self.args, self.kwargs = model, components, args, kwargs
        self.log: TrainingLog = log
        self.reports: list[Proposition3Report] = reports
        self.errors: dict[str, torch.Tensor] = {}

    @property
    def mechanism(self) -> nn.Module:
        return self.components[0].mechanism

    @property
    def invariance_error(self) -> float:
        return max(float(e.max()) for e in self.errors.values())

    @property
    def invariance_errors(self) -> dict[str, float]:
        return {k: float(v.max()) for k, v in self.errors.items()}

    def _elements(self, intervention: Mapping | None) -> dict:
        known = {k for c in self.components for k in c.triplet.intervention}
        unknown = set(intervention or {}) - known
        if unknown:
            raise KeyError(f"no trained intervention on {sorted(unknown)} (known: {sorted(known)})")
        return dict(intervention or {})

    def handler(self, intervention: Mapping | None = None):
        """Context manager running the deployed intervened system.

        :param intervention: name -> group element replacing the trained value (for
            mechanisms trained over an ``intervention_range``; otherwise the element should be
            the trained one, as the mechanism was learned for it).
        """
        return applied(self.components, self._elements(intervention))

    def intervened_model(self, intervention: Mapping | None = None) -> Callable:
        """The model with the intervention and learned replacement(s) applied."""

        def intervened(*args, **kwargs):
            with self.handler(intervention):
                return self.model(*args, **kwargs)

        return intervened

    def actions(self, intervention: Mapping | None = None) -> dict:
        """``pce.do`` actions ``{intervened: g, auxiliary: pce.Replace(mechanism)}``
        (whole auxiliary nodes only; an element ``node[i]`` needs :meth:`handler`)."""
        elements = self._elements(intervention)
        out = {}
        for component in self.components:
            if component.auxiliary.index is not None:
                raise ValueError(
                    f"auxiliary {component.auxiliary.label!r} is an element of a node: use "
                    "handler() / intervened_model(), which replace only that element"
                )
            full = dict(component.triplet.intervention)
            full.update({k: v for k, v in elements.items() if k in full})
            component.mechanism.coords = component.flat_coords(full)
            out.update(full)
            out[component.auxiliary.node] = Replace(component.mechanism)
        return out

    def evaluate(self, values: Mapping[str, torch.Tensor], intervention=None) -> dict:
        """Relative deviation of each invariant node, per draw of the (batched) parameter
        ``values``, in the deployed intervened system.

        :param values: parameter name -> batched values (leading dimension = draws).
        :param intervention: optional group elements (see :meth:`handler`).
        """
        elements = self._elements(intervention)
        try:
            return self._errors(values, elements)
        except EquilibriumError:
            pass
        # some draws have no (stable) intervened equilibrium: evaluate draw by draw
        n = next(iter(values.values())).shape[0]
        rows, failed = [], 0
        for i in range(n):
            try:
                rows.append(self._errors({k: v[i : i + 1] for k, v in values.items()}, elements))
            except EquilibriumError:
                failed += 1
                rows.append({c.invariant.label: torch.full((1,), math.inf) for c in self.components})
        warnings.warn(
            f"the deployed intervened system has no stable equilibrium for {failed} of {n} "
            "parameter draws (their invariance error is inf): the learned mechanism makes the "
            "loop through the auxiliary node unstable there",
            stacklevel=2,
        )
        return {k: torch.cat([row[k] for row in rows]) for k in rows[0]}

    def _errors(self, values: Mapping[str, torch.Tensor], elements: Mapping) -> dict:
        with torch.no_grad():
            ref = run_trace(self.model, values, self.args, self.kwargs)
            out = run_trace(self.model, values, self.args, self.kwargs, self.components, elements)
        errors = {}
        for c in self.components:
            ev = c.triplet.system.event_dim(c.invariant.node)
            target = c.invariant.select(node_value(ref, c.invariant.node), ev)
            value = c.invariant.select(node_value(out, c.invariant.node), ev)
            errors[c.invariant.label] = relative_errors(value, target)
        return errors

    def __repr__(self) -> str:
        labels = ", ".join(f"{c.invariant.label} via {c.auxiliary.label}" for c in self.components)
        return f"{type(self).__name__}({labels}; invariance error {self.invariance_error:.3g})"


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
        batched parameters (leading batch dimension).
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
    :param num_train: parameter draws used for training.
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
    :raises ValueError: auxiliary or invariant equal to the intervened node, invariant node not
        downstream of the intervention, auxiliary node without parents.

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
