"""The result of learning invariant interventions: run, inspect and evaluate them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import EquilibriumError
from ..interventions import Replace
from .conditions import Proposition3Report
from .loop import TrainingLog
from .training import Component, applied, node_value, relative_errors, run_trace


@dataclass(frozen=True, eq=False)
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
    :attr test_parameters: the held-out parameter draws behind :attr:`errors`.
    :attr test_intervention: the held-out intervention elements (with an
        ``intervention_range``).

    Immutable; :meth:`to_xarray` gives the held-out errors and the training losses.

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.invariance import learn_invariant_intervention
    >>> def model(tau=torch.tensor(1.0)):  # y = τ + z / 2, z = y / 2
    ...     return pce.equilibrate("s", {"y": lambda z: tau + 0.5 * z, "z": lambda y: 0.5 * y},
    ...                            init={"y": torch.zeros(()), "z": torch.zeros(())})
    >>> from pyro_causal_eq.invariance import InvariantOptions
    >>> result = learn_invariant_intervention(
    ...     model, {"y": pce.Scale(1.3)}, "z",
    ...     parameters={"tau": torch.distributions.Uniform(0.5, 1.5)}, steps=0,
    ...     options=InvariantOptions(hidden=(4,), num_train=16, num_test=8, lm_steps=10))
    >>> tau = torch.tensor([0.6, 1.4])
    >>> with result.handler():  # the deployed intervened system
    ...     z = model(tau)["z"]
    >>> bool(torch.allclose(z, model(tau)["z"], rtol=1e-3))
    True
    >>> z2 = pce.do(model, actions=result.actions())(tau)["z"]  # the same through pce.do
    >>> bool(torch.allclose(z, z2)), float(result.evaluate({"tau": tau})["z"].max()) < 1e-3
    (True, True)
    >>> result.to_xarray()["error"].dims
    ('invariant', 'draw')
    """

    model: Callable
    components: list[Component]
    args: tuple = ()
    kwargs: Mapping | None = None
    log: TrainingLog | None = None
    reports: list[Proposition3Report] = field(default_factory=list)
    errors: dict[str, torch.Tensor] = field(default_factory=dict)
    test_parameters: dict[str, torch.Tensor] = field(default_factory=dict)
    test_intervention: dict = field(default_factory=dict)

    def to_xarray(self):
        """An ``xarray.Dataset``: ``error`` (dims ``invariant``, ``draw``) on the held-out
        draws, the held-out parameters ``parameter_<name>`` (dim ``draw``, ...), the training
        ``loss`` per step; ``invariance_error`` and ``seconds`` as attributes."""
        import xarray as xr

        labels = list(self.errors)
        data = {}
        if labels:
            stacked = torch.stack([self.errors[k].detach().reshape(-1) for k in labels])
            data["error"] = (("invariant", "draw"), stacked.cpu().numpy())
        for name, value in self.test_parameters.items():
            value = torch.as_tensor(value).detach().cpu()
            dims = ("draw",) + tuple(f"{name}_dim_{i}" for i in range(1, value.dim()))
            data[f"parameter_{name}"] = (dims, value.numpy())
        losses = [] if self.log is None else self.log.losses
        data["loss"] = ("step", torch.tensor(losses, dtype=torch.float64).numpy())
        attrs = {"seconds": 0.0 if self.log is None else self.log.seconds}
        if labels:
            attrs["invariance_error"] = self.invariance_error
        return xr.Dataset(data, coords={"invariant": labels}, attrs=attrs)

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
        for c in self.components:
            for name, g in (intervention or {}).items():
                trained = c.triplet.intervention.get(name)
                if name in c.intervention_range or trained is None or g is trained:
                    continue
                same = (
                    type(g) is type(trained)
                    and hasattr(g, "log")
                    and _close(g.log(), trained.log())
                )
                if not same:
                    warnings.warn(
                        f"intervention on {name!r} differs from the one the mechanism of "
                        f"{c.auxiliary.label!r} was trained for ({trained!r}): invariance is not "
                        "expected; train with intervention_range to vary it",
                        stacklevel=3,
                    )
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
        values = {k: torch.as_tensor(v) for k, v in values.items()}
        try:
            return self._errors(values, elements)
        except EquilibriumError:
            if next(iter(values.values())).dim() == 0:
                raise
        # some draws have no (stable) intervened equilibrium: evaluate draw by draw
        n = next(iter(values.values())).shape[0]
        rows, failed, components = [], 0, self.components
        for i in range(n):
            try:
                rows.append(self._errors({k: v[i : i + 1] for k, v in values.items()}, elements))
            except EquilibriumError:
                failed += 1
                rows.append({c.invariant.label: torch.full((1,), math.inf) for c in components})
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


def _close(a, b) -> bool:
    try:
        return bool(torch.allclose(torch.as_tensor(a), torch.as_tensor(b)))
    except RuntimeError:
        return False
