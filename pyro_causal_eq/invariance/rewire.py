"""Messengers acting on ``equilibrate`` messages: replacing one element of a node's mechanism,
and making other nodes read the *unintervened* value of an invariant node (paper Sec. 4)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping

import torch
from pyro.poutine.messenger import Messenger

from ..internals.mechanisms import mechanism_parents
from .nodes import NodeRef


def _signature(names) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in names])


def _takes_kwargs(fn: Callable) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


class ReplaceElement(Messenger):
    """Replace the mechanism of one element ``node[index]`` of a vector node by ``fn``; the
    other elements keep their mechanism. (For a whole node use :class:`pyro_causal_eq.Replace`.)

    :param target: ``"node[i]"``, ``("node", i)`` or a :class:`NodeRef` with an index.
    :param fn: a callable whose argument names are parents of ``node`` (``**kwargs`` receives
        all of them); it returns the element's value with the batch shape of its inputs.

    >>> import torch, pyro_causal_eq as pce
    >>> def model():
    ...     return pce.equilibrate("s", {"v": lambda v: 0.5 * v.flip(-1) + 1.0},
    ...                            init={"v": torch.zeros(2)})
    >>> with ReplaceElement("v[0]", lambda v: torch.tensor(4.0) + 0 * v[..., 1]):
    ...     v = model()["v"]
    >>> v.tolist()  # v1 = 0.5 * 4 + 1
    [4.0, 3.0]
    """

    def __init__(self, target, fn: Callable):
        super().__init__()
        self.target = NodeRef.parse(target)
        if self.target.index is None:
            raise ValueError("ReplaceElement needs an element 'node[i]'; use pce.Replace")
        if not callable(fn):
            raise TypeError(f"ReplaceElement needs a callable, got {fn!r}")
        self.fn = fn
        self.matched = False

    def _pyro_equilibrate(self, msg) -> None:
        mechanisms = dict(msg["kwargs"]["mechanisms"])
        node = self.target.node
        if node not in mechanisms:
            return
        nodes = list(mechanisms)
        original = mechanisms[node]
        parents = mechanism_parents(original, nodes, node)
        wanted = parents if _takes_kwargs(self.fn) else mechanism_parents(self.fn, nodes, node)
        extra = sorted(set(wanted) - set(parents))
        if extra:
            raise ValueError(
                f"ReplaceElement on {self.target.label!r} reads {extra}, which are not parents "
                f"of {node!r} (parents: {sorted(parents)})"
            )
        init = msg["kwargs"]["init"][node]
        event_dim = (msg["kwargs"].get("event_dims") or {}).get(node, torch.as_tensor(init).dim())
        target, fn = self.target, self.fn

        def mechanism(**values):
            base = original(**{p: values[p] for p in parents})
            part = fn(**{p: values[p] for p in wanted})
            return target.assign(base, part.unsqueeze(-1), event_dim)

        mechanism.__signature__ = _signature(parents)
        mechanisms[node] = mechanism
        msg["kwargs"]["mechanisms"] = mechanisms
        self.matched = True


class InvariantReads(Messenger):
    """In the intervened system, other nodes read the invariant node(s) at their unintervened
    equilibrium value (the paper's rewiring for learning invariant interventions, Sec. 4).

    Enter it *outside* the ``pce.do`` that intervenes, so it rewires the intervened mechanisms.

    :param reference: invariant node reference -> its unintervened equilibrium value (with the
        batch shape of the run).
    :param event_dims: node -> number of event dimensions.

    >>> import pyro_causal_eq as pce
    >>> def model():  # x = y / 2 + 1, y = x / 2
    ...     return pce.equilibrate("s", {"x": lambda y: 0.5 * y + 1.0, "y": lambda x: 0.5 * x},
    ...                            init={"x": torch.zeros(()), "y": torch.zeros(())})
    >>> with InvariantReads({NodeRef("x"): torch.tensor(10.0)}, {"x": 0, "y": 0}):
    ...     eq = model()  # y reads x = 10, while x itself is solved: x = 5 / 2 + 1
    >>> float(eq["y"]), float(eq["x"])
    (5.0, 3.5)
    """

    def __init__(self, reference: Mapping[NodeRef, torch.Tensor], event_dims: Mapping[str, int]):
        super().__init__()
        self.reference = dict(reference)
        self.event_dims = dict(event_dims)

    def _substitute(self, node: str, value: torch.Tensor) -> torch.Tensor:
        for ref, ref_value in self.reference.items():
            if ref.node != node:
                continue
            event_dim = self.event_dims[node]
            if ref.index is None:
                value = ref_value
            else:
                value = ref.assign(value, ref.select(ref_value, event_dim), event_dim)
        return value

    def _pyro_equilibrate(self, msg) -> None:
        mechanisms = dict(msg["kwargs"]["mechanisms"])
        nodes = list(mechanisms)
        invariant_nodes = {ref.node for ref in self.reference if ref.node in mechanisms}
        if not invariant_nodes:
            return
        for node, mechanism in list(mechanisms.items()):
            parents = mechanism_parents(mechanism, nodes, node)
            read = [p for p in parents if p in invariant_nodes]
            if read:
                mechanisms[node] = self._rewired(node, mechanism, parents, read)
        msg["kwargs"]["mechanisms"] = mechanisms

    def _rewired(self, node, mechanism, parents, read):
        substitute = self._substitute
        own = [r for r in self.reference if r.node == node]

        def rewired(**values):
            outside = dict(values)
            for p in read:
                if p != node:
                    outside[p] = substitute(p, values[p])
            if node not in read:
                return mechanism(**outside)
            # A node reading itself: a whole invariant node keeps its own (intervened) value;
            # for an invariant element, the other elements read its unintervened value.
            if all(r.index is None for r in own):
                return mechanism(**outside)
            other = dict(outside, **{node: substitute(node, values[node])})
            out_self, out_other = mechanism(**outside), mechanism(**other)
            event_dim = self.event_dims[node]
            result = out_other
            for ref in own:
                result = ref.assign(result, ref.select(out_self, event_dim), event_dim)
            return result

        functools.update_wrapper(rewired, mechanism)
        rewired.__signature__ = _signature(parents)
        return rewired
