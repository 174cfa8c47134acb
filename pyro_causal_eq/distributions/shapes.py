"""Shape checks of noisy systems: node shapes, noise distributions, parameter batch shapes."""

from __future__ import annotations

from collections.abc import Mapping

import pyro.distributions as dist
import torch

from ..internals.mechanisms import evaluate


def node_event_shapes(system, nodes, init, event_dims) -> dict[str, torch.Size]:
    """The event shape of each node (the rightmost ``event_dims[k]`` dims of its init).

    >>> node_event_shapes("s", ["x"], {"x": torch.zeros(4, 3)}, {"x": 1})
    {'x': torch.Size([3])}
    """
    missing = set(nodes) - set(init)
    if missing:
        raise ValueError(f"equilibrate({system!r}): init misses node(s) {sorted(missing)}")
    shapes = {}
    for k in nodes:
        value = torch.as_tensor(init[k])
        event_dim = event_dims.get(k, value.dim())
        shapes[k] = torch.Size(value.shape[value.dim() - event_dim :])
    return shapes


def node_noise(system: str, node: str, noise, event_shape: torch.Size):
    """Check that ``noise`` is a distribution whose event shape is the node's shape.

    A distribution with the node's shape among its trailing *batch* dims (e.g.
    ``Normal(torch.zeros(3), 1.0)`` for a ``(3,)`` node) is reinterpreted with ``to_event``.

    >>> import pyro.distributions as dist
    >>> node_noise("s", "x", dist.Normal(torch.zeros(3), 1.0), torch.Size([3])).event_shape
    torch.Size([3])
    """
    if not isinstance(noise, torch.distributions.Distribution):
        raise TypeError(
            f"equilibrate({system!r}): noise of node {node!r} must be a pyro distribution, "
            f"got {type(noise).__name__}"
        )
    full = noise.batch_shape + noise.event_shape
    extra = len(event_shape) - len(noise.event_shape)
    fits = len(full) >= len(event_shape) and full[len(full) - len(event_shape) :] == event_shape
    if extra < 0 or not fits:
        raise ValueError(
            f"equilibrate({system!r}): noise of node {node!r} has batch shape "
            f"{tuple(noise.batch_shape)} and event shape {tuple(noise.event_shape)}, but the node "
            f"has shape {tuple(event_shape)}: the noise's event shape must be the node's shape "
            f"(e.g. dist.Normal(torch.zeros({tuple(event_shape)}), 1.0).to_event("
            f"{len(event_shape)}))"
        )
    return dist.Independent(noise, extra) if extra > 0 else noise


def params_batch_shape(mechanisms: Mapping, parents, init, event_shapes) -> torch.Size:
    """The batch shape of the mechanisms' outputs and of ``init`` (plates, batched params)."""
    values = {k: torch.as_tensor(v) for k, v in init.items()}
    out = evaluate(mechanisms, parents, values)
    shapes = []
    for k, event in event_shapes.items():
        for tensor in (out[k], values[k]):
            shapes.append(tensor.shape[: max(0, tensor.dim() - len(event))])
    return torch.broadcast_shapes(*shapes)
