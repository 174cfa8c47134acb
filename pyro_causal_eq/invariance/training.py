"""The pieces of a trained invariant intervention: components, their application, traces.

The training loop itself is in :mod:`.loop`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyro.poutine as poutine
import torch
from torch import nn

from ..groups import LieGroupElement
from ..handlers.do import do
from ..interventions import Replace
from .features import auxiliary_features
from .mechanism import InvariantMechanism, extract_features, mlp
from .nodes import NodeRef, find_system, run_recorded
from .parameters import with_parameters
from .rewire import ReplaceElement
from .triplet import Triplet


@dataclass
class Component:
    """One trained invariant intervention: its triplet, mechanism and intervention range."""

    triplet: Triplet
    mechanism: InvariantMechanism
    intervention_range: dict[str, torch.distributions.Distribution] = field(default_factory=dict)
    coord_dims: dict[str, int] = field(default_factory=dict)

    @property
    def invariant(self) -> NodeRef:
        return self.triplet.invariant

    @property
    def auxiliary(self) -> NodeRef:
        return self.triplet.auxiliary

    def sample_coords(self, n: int) -> dict[str, torch.Tensor] | None:
        if not self.intervention_range:
            return None
        return {k: d.sample((n,)) for k, d in self.intervention_range.items()}

    @property
    def n_coords(self) -> int:
        return self.mechanism.n_coords

    def elements(self, coords: Mapping[str, torch.Tensor] | None = None) -> dict:
        """Intervention elements from Lie-algebra coordinates ``batch + coord_shape``, shaped
        to broadcast against the intervened value."""
        out = dict(self.triplet.intervention)
        for name, value in (coords or {}).items():
            cdim = self.coord_dims[name]
            extra = max(self.triplet.target_event_dims[name] - cdim, 0)
            batch = value.shape[: value.dim() - cdim]
            shaped = value.reshape(batch + (1,) * extra + value.shape[len(batch) :])
            out[name] = type(out[name]).exp(shaped)
        return out

    def flat_coords(self, elements: Mapping) -> torch.Tensor | None:
        """Mechanism inputs from intervention elements: their Lie-algebra coordinates,
        ``(n_coords,)`` for one element or ``(batch, n_coords)`` for a batch."""
        if not self.intervention_range:
            return None
        parts = []
        for name, distribution in self.intervention_range.items():
            log = elements[name].log()
            size = int(torch.Size(distribution.event_shape).numel())
            if log.numel() % size:
                raise ValueError(
                    f"intervention on {name!r}: {log.numel()} coordinates do not fit the "
                    f"{size} coordinates it was trained with"
                )
            parts.append(log.reshape(-1) if log.numel() == size else log.reshape(-1, size))
        batch = torch.broadcast_shapes(*(p.shape[:-1] for p in parts))
        return torch.cat([p.expand(batch + p.shape[-1:]) for p in parts], dim=-1)


@contextlib.contextmanager
def applied(components: Sequence[Component], elements: Mapping | None = None, reads=None):
    """Apply the interventions and learned replacements (and optionally the invariant-reads
    rewiring ``reads``) inside the context."""
    actions: dict = {}
    stack = contextlib.ExitStack()
    with stack:
        if reads is not None:
            stack.enter_context(reads)
        for component in components:
            own = {k: v for k, v in (elements or {}).items() if k in component.triplet.intervention}
            full = dict(component.triplet.intervention, **own)
            component.mechanism.coords = component.flat_coords(full)
            actions.update(full)
            aux = component.auxiliary
            if aux.index is None:
                actions[aux.node] = Replace(component.mechanism)
            else:
                stack.enter_context(ReplaceElement(aux, component.mechanism))
        stack.enter_context(do(actions=actions))
        yield


def run_trace(model, theta, args, kwargs, components=None, elements=None, reads=None):
    """Trace one run of ``model`` with parameters ``theta`` (intervened when ``components``)."""

    def run():
        return with_parameters(model, theta, args, kwargs)

    if components is None:
        return poutine.trace(run).get_trace()
    with applied(components, elements, reads):
        return poutine.trace(run).get_trace()


def node_value(trace, node: str) -> torch.Tensor:
    return trace.nodes[node]["value"]


def relative_errors(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|value - target| / |target|`` (floored at ``1e-8 max|target|``), max over components."""
    floor = 1e-8 * target.abs().amax(-1, keepdim=True) + 1e-300
    return ((value - target).abs() / target.abs().maximum(floor)).amax(-1)


def build_components(
    model, triplets, ranges, networks, hidden, theta, args, kwargs
) -> list[Component]:
    """Features, mechanisms and their standardization from an unintervened batched run."""
    _, systems = run_recorded(lambda: with_parameters(model, theta, args, kwargs))
    components = []
    for triplet, rng, network in zip(triplets, ranges, networks, strict=True):
        system = find_system(systems, triplet.auxiliary.node, "auxiliary node")
        features = auxiliary_features([triplet.system, system], triplet.auxiliary)
        if not features:
            raise ValueError(
                f"the auxiliary node {triplet.auxiliary.label!r} reads no other node, so its "
                "soft intervention can only be a constant and cannot track the parameters; "
                "choose an auxiliary node with parents"
            )
        rng = dict(rng or {})
        coord_dims = {}
        for name, distribution in rng.items():
            if name not in triplet.intervention:
                raise KeyError(f"intervention_range for {name!r}, which is not intervened on")
            if not isinstance(triplet.intervention[name], LieGroupElement):
                raise TypeError(
                    f"intervention_range for {name!r} needs a Lie group element as its "
                    f"intervention (its type gives the group), got {triplet.intervention[name]!r}"
                )
            coord_dims[name] = len(distribution.event_shape)
        event_dims = {n: system.event_dim(n) for n in system.event_shapes}
        aux = triplet.auxiliary
        out_shape = system.event_shapes[aux.node] if aux.index is None else torch.Size()
        n_coords = sum(int(torch.Size(d.event_shape).numel()) for d in rng.values())
        raw = extract_features(features, event_dims, {n: system.values[n] for n in event_dims})
        if network is None:
            network = mlp(raw.shape[-1] + n_coords, max(out_shape.numel(), 1), hidden)
        elif not isinstance(network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module, got {network!r}")
        mechanism = InvariantMechanism(features, event_dims, out_shape, network, n_coords)
        target = aux.select(system.values[aux.node], system.event_dim(aux.node))
        mechanism.set_statistics(raw, target)
        components.append(Component(triplet, mechanism, rng, coord_dims))
    return components
