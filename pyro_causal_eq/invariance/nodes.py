"""Node references (a whole node or one element of a vector node) and model inspection."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyro.poutine as poutine
import torch
from pyro.poutine.messenger import Messenger

from ..internals.mechanisms import mechanism_parents

_SPEC = re.compile(r"^\s*([^\[\]\s]+)\s*(?:\[\s*([0-9,\s]+)\s*\])?\s*$")


@dataclass(frozen=True)
class NodeRef:
    """A node of an ``equilibrate`` system, or one element of it (``"y[0]"``, ``("y", 0)``).

    :param node: the node's name.
    :param index: index into the node's event shape, or ``None`` for the whole node.

    >>> NodeRef.parse("y[0]"), NodeRef.parse(("A", (1, 2))).label, NodeRef.parse("x").index
    (NodeRef(node='y', index=(0,)), 'A[1,2]', None)
    """

    node: str
    index: tuple[int, ...] | None = None

    @classmethod
    def parse(cls, spec) -> NodeRef:
        if isinstance(spec, NodeRef):
            return spec
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            index = spec[1]
            index = (int(index),) if isinstance(index, int) else tuple(int(i) for i in index)
            return cls(spec[0], index)
        if isinstance(spec, str):
            match = _SPEC.match(spec)
            if match:
                index = match.group(2)
                if index is None:
                    return cls(match.group(1))
                return cls(match.group(1), tuple(int(i) for i in index.split(",") if i.strip()))
        raise ValueError(
            f"node spec {spec!r} is not understood: use 'name', 'name[i]' or ('name', i)"
        )

    @property
    def label(self) -> str:
        if self.index is None:
            return self.node
        return f"{self.node}[{','.join(str(i) for i in self.index)}]"

    def select(self, value: torch.Tensor, event_dim: int) -> torch.Tensor:
        """The referenced part of a node value as ``batch + (size,)``."""
        batch = value.shape[: value.dim() - event_dim]
        if self.index is None:
            return value.reshape(batch + (-1,))
        return value[(...,) + self.index].reshape(batch + (1,))

    def assign(self, value: torch.Tensor, part: torch.Tensor, event_dim: int) -> torch.Tensor:
        """``value`` with the referenced part replaced by ``part`` (``batch + (size,)``)."""
        if self.index is None:
            return part.reshape(part.shape[:-1] + value.shape[value.dim() - event_dim :])
        batch = torch.broadcast_shapes(value.shape[: value.dim() - event_dim], part.shape[:-1])
        out = value.expand(batch + value.shape[value.dim() - event_dim :]).clone()
        out[(...,) + self.index] = part[..., 0]
        return out


@dataclass
class SystemInfo:
    """One ``equilibrate`` call of a model run: its mechanisms, values and event shapes."""

    name: str
    mechanisms: dict[str, Callable]
    parents: dict[str, tuple[str, ...]]
    values: dict[str, torch.Tensor]
    event_shapes: dict[str, torch.Size]

    def event_dim(self, node: str) -> int:
        return len(self.event_shapes[node])


class _SystemRecorder(Messenger):
    """Records the mechanisms and solutions of every ``equilibrate`` call."""

    def __init__(self):
        super().__init__()
        self.systems: list[SystemInfo] = []

    def _pyro_post_equilibrate(self, msg) -> None:
        values, _, layout = msg["value"]
        mechanisms = dict(msg["kwargs"]["mechanisms"])
        nodes = list(mechanisms)
        parents = {n: mechanism_parents(m, nodes, n) for n, m in mechanisms.items()}
        shapes = dict(zip(layout.names, layout.event_shapes, strict=True))
        self.systems.append(
            SystemInfo(msg["kwargs"]["system"], mechanisms, parents, dict(values), shapes)
        )


def run_recorded(model: Callable, *args, **kwargs):
    """Run ``model`` under a trace; returns ``(trace, systems)``."""
    recorder = _SystemRecorder()
    with recorder:
        trace = poutine.trace(model).get_trace(*args, **kwargs)
    return trace, recorder.systems


def find_system(systems: list[SystemInfo], node: str, role: str) -> SystemInfo:
    """The system holding equilibrium node ``node`` (clear error when there is none)."""
    for system in systems:
        if node in system.mechanisms:
            return system
    known = sorted(n for s in systems for n in s.mechanisms)
    raise KeyError(f"{role} {node!r} is not an equilibrium node of the model (nodes: {known})")


def element_moves(model: Callable, intervention: Mapping, ref: NodeRef, system: SystemInfo) -> bool:
    """Whether the intervention changes the element ``ref`` at the recorded reference solution
    ``system`` (``model`` runs the reference point). ``True`` when it cannot tell (identity
    elements, e.g. the centre of an ``intervention_range``, or no intervened equilibrium)."""
    from ..errors import EquilibriumError
    from ..groups import LieGroupElement
    from ..handlers.do import do

    if all(
        isinstance(g, LieGroupElement) and not bool(g.log().detach().ne(0).any())
        for g in intervention.values()
    ):
        return True
    try:
        with torch.no_grad(), do(actions=dict(intervention)):
            _, systems = run_recorded(model)
    except EquilibriumError:
        return True
    event_dim = system.event_dim(ref.node)
    before = ref.select(system.values[ref.node].detach(), event_dim)
    after = ref.select(find_system(systems, ref.node, "invariant node").values[ref.node], event_dim)
    tiny = 1e-12 * before.abs().max().clamp_min(1e-300)
    return bool(((after - before).abs() > tiny).any())


def check_index(ref: NodeRef, system: SystemInfo, role: str) -> None:
    if ref.index is None:
        return
    shape = system.event_shapes[ref.node]
    if len(ref.index) != len(shape) or any(
        not 0 <= i < s for i, s in zip(ref.index, shape, strict=False)
    ):
        raise IndexError(
            f"{role} {ref.label!r}: index {ref.index} does not fit node {ref.node!r} of shape "
            f"{tuple(shape)}"
        )


def flat_size(ref: NodeRef, system: SystemInfo) -> int:
    return 1 if ref.index is not None else int(system.event_shapes[ref.node].numel())


def site_names(trace) -> Mapping[str, str]:
    """Site name -> kind (``sample``, ``param``, ``deterministic``) of a trace."""
    kinds = {}
    for name, site in trace.nodes.items():
        if site["type"] == "param":
            kinds[name] = "param"
        elif site["type"] == "sample":
            if site["infer"].get("equilibrium") is not None:
                continue
            kinds[name] = "deterministic" if site["infer"].get("_deterministic") else "sample"
    return kinds
