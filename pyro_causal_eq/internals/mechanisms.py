"""Structural assignments: parents from signatures, and packing node values into one vector."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

Mechanism = Callable[..., torch.Tensor]


def mechanism_parents(mechanism: Mechanism, nodes: list[str], node: str = "?") -> tuple[str, ...]:
    """The parents of a structural assignment: the names of its arguments.

    A ``**kwargs`` argument means "all nodes of the system".

    :param mechanism: the callable ``f_k``.
    :param nodes: all node names of the system.
    :param node: the node ``f_k`` assigns (for error messages).

    >>> mechanism_parents(lambda x, y: x + y, ["x", "y", "z"])
    ('x', 'y')
    """
    fast = _plain_function_parents(mechanism, nodes, node)
    if fast is not None:
        return fast
    try:
        signature = signature_of(mechanism)
    except (TypeError, ValueError) as error:
        raise TypeError(f"mechanism of node {node!r} has no inspectable signature") from error
    parents: list[str] = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return tuple(nodes)
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"mechanism of node {node!r} takes *args; name its parents instead")
        if parameter.name not in nodes:
            if parameter.default is not inspect.Parameter.empty:
                continue
            raise ValueError(
                f"mechanism of node {node!r} has argument {parameter.name!r}, which is not a "
                f"node of the system (nodes: {sorted(nodes)})"
            )
        parents.append(parameter.name)
    return tuple(parents)


def signature_of(mechanism: Callable) -> inspect.Signature:
    """The signature of a mechanism; for a ``torch.nn.Module``, that of its ``forward`` (its
    ``__call__`` only shows ``(*args, **kwargs)``) unless it sets ``__signature__``.

    >>> str(signature_of(torch.nn.Linear(2, 2)))
    '(input: torch.Tensor) -> torch.Tensor'
    """
    if isinstance(mechanism, torch.nn.Module) and not hasattr(mechanism, "__signature__"):
        return inspect.signature(mechanism.forward)
    return inspect.signature(mechanism)


def _plain_function_parents(mechanism, nodes, node) -> tuple[str, ...] | None:
    """The parents read from the code object of a plain Python function (the common case,
    much cheaper than ``inspect.signature``); ``None`` for anything else."""
    fn = inspect.unwrap(mechanism, stop=lambda f: hasattr(f, "__signature__"))
    if type(fn) is not types.FunctionType or hasattr(fn, "__signature__"):
        return None
    code = fn.__code__
    n_positional, n_keyword = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames[: n_positional + n_keyword]
    if code.co_flags & inspect.CO_VARARGS or not set(names) <= set(nodes):
        return None  # errors and defaults are handled (and worded) by the general path
    if code.co_flags & inspect.CO_VARKEYWORDS:
        return tuple(nodes)
    return tuple(names)


@dataclass(frozen=True)
class NodeLayout:
    """Where each node lives in the flat state ``z`` of shape ``batch_shape + (size,)``.

    >>> layout = NodeLayout(("a", "b"), (torch.Size([]), torch.Size([2])), torch.Size([3]))
    >>> z = layout.pack({"a": torch.ones(3), "b": torch.zeros(2)})
    >>> z.shape, layout.unpack(z)["b"].shape
    (torch.Size([3, 3]), torch.Size([3, 2]))
    """

    names: tuple[str, ...]
    event_shapes: tuple[torch.Size, ...]
    batch_shape: torch.Size
    system: str = "system"

    @functools.cached_property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(torch.Size(s).numel()) for s in self.event_shapes)

    @functools.cached_property
    def size(self) -> int:
        return sum(self.sizes)

    def pack(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        for name, event_shape in zip(self.names, self.event_shapes, strict=True):
            value = values[name]
            shape = self.batch_shape + event_shape
            if value.shape != shape:
                value = self._expand(name, value, shape)
            parts.append(value.reshape(self.batch_shape + (-1,)))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def _expand(self, name: str, value: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Broadcast batch dimensions only; anything else is the mechanism's error."""
        event_shape = shape[len(self.batch_shape) :]
        event_dim = len(event_shape)
        if value.dim() >= event_dim and value.shape[value.dim() - event_dim :] == event_shape:
            try:
                return value.expand(shape)
            except RuntimeError:
                pass
        raise ValueError(
            f"equilibrate({self.system!r}): mechanism of node {name!r} returned shape "
            f"{tuple(value.shape)}; expected {tuple(shape)} (batch {tuple(self.batch_shape)} + "
            f"node shape {tuple(event_shape)})"
        )

    def unpack(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        if len(self.names) == 1:  # the common single-node system: a view, no split
            return {self.names[0]: z.reshape(z.shape[:-1] + self.event_shapes[0])}
        out = {}
        for name, event_shape, chunk in zip(
            self.names, self.event_shapes, z.split(self.sizes, dim=-1), strict=True
        ):
            out[name] = chunk.reshape(z.shape[:-1] + event_shape)
        return out


def evaluate(
    mechanisms: Mapping[str, Mechanism],
    parents: Mapping[str, tuple[str, ...]],
    values: Mapping[str, torch.Tensor],
    system: str = "system",
) -> dict[str, torch.Tensor]:
    """Apply every structural assignment once: ``{k: f_k(Pa_k)}``. A dtype or device
    mismatch inside a mechanism becomes a ``TypeError`` naming the system, node and inputs."""
    out = {}
    for node, mechanism in mechanisms.items():
        inputs = {p: values[p] for p in parents[node]}
        try:
            value = mechanism(**inputs)
        except RuntimeError as error:
            if not _is_dtype_or_device_error(error):
                raise
            described = ", ".join(f"{k}: {v.dtype} on {v.device}" for k, v in inputs.items())
            raise TypeError(
                f"equilibrate({system!r}): mechanism of node {node!r} fails on its inputs "
                f"({described or 'none'}): {error}. Give init the dtype and device of the "
                "mechanism's parameters (the system's dtype is the promotion of the init "
                "values and the mechanism outputs)"
            ) from error
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value, dtype=values[node].dtype, device=values[node].device)
        out[node] = value
    return out


def _is_dtype_or_device_error(error: RuntimeError) -> bool:
    text = str(error)
    return any(
        key in text
        for key in (
            "dtype",
            "same device",
            "Expected all tensors",
            "scalar type",
            "Float",
            "Double",
        )
    )
