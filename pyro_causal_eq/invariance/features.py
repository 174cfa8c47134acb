"""The auxiliary node's parents (at element level) and the dense Jacobian of a system."""

from __future__ import annotations

import torch

from .nodes import NodeRef, SystemInfo


def auxiliary_features(systems: list[SystemInfo], auxiliary: NodeRef) -> list[NodeRef]:
    """The parents of the auxiliary node in the unintervened graph, as features.

    For a whole node: all its parent nodes. For an element ``node[i]``: the elements of the
    parent nodes its mechanism actually reads (non-zero derivative at any of the recorded
    equilibria), so e.g. the price ``p[0] = Σ_i A_i0 p_i + A_10`` reads ``p[1]`` and ``p[2]``.

    :param systems: recorded runs of the system holding the auxiliary node (batched).
    :param auxiliary: the auxiliary node reference.
    """
    system = systems[0]
    parents = system.parents[auxiliary.node]
    if auxiliary.index is None:
        return [NodeRef(p) for p in parents]
    used: dict[str, torch.Tensor] = {}
    for run in systems:
        leaves = {p: run.values[p].detach().clone().requires_grad_(True) for p in parents}
        with torch.enable_grad():
            out = run.mechanisms[auxiliary.node](**leaves)
            out = auxiliary.select(out, run.event_dim(auxiliary.node)).sum()
            if not out.requires_grad:
                continue
            grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True)
        for p, grad in zip(parents, grads, strict=True):
            if grad is None:
                continue
            event_dim = run.event_dim(p)
            mask = grad.reshape((-1,) + grad.shape[grad.dim() - event_dim :]).ne(0).any(0)
            used[p] = used[p] | mask if p in used else mask
    features = []
    for p in parents:
        if p not in used:
            continue
        for index in torch.nonzero(used[p], as_tuple=False).tolist():
            features.append(NodeRef(p, tuple(index)) if index else NodeRef(p))
    return features


def flat_indices(system: SystemInfo, ref: NodeRef) -> list[int]:
    """Positions of ``ref`` in the flat state (nodes in system order, row-major elements)."""
    offset = 0
    for node, shape in system.event_shapes.items():
        size = int(torch.Size(shape).numel())
        if node == ref.node:
            if ref.index is None:
                return list(range(offset, offset + size))
            strides = torch.ones(size).reshape(shape).stride() if shape else ()
            return [offset + sum(i * s for i, s in zip(ref.index, strides, strict=True))]
        offset += size
    raise KeyError(ref.node)


def system_jacobian(system: SystemInfo) -> torch.Tensor:
    """Dense ``∂F/∂x`` of a recorded system at its solution (batch of one element)."""
    nodes = list(system.event_shapes)
    sizes = [int(torch.Size(system.event_shapes[n]).numel()) for n in nodes]

    def first(value: torch.Tensor, node: str) -> torch.Tensor:
        size = sizes[nodes.index(node)]
        flat = value.reshape(-1)
        if flat.numel() != size:
            flat = value.reshape(-1, size)[0]
        return flat

    z = torch.cat([first(system.values[n].detach(), n) for n in nodes])

    def f(z: torch.Tensor) -> torch.Tensor:
        parts = dict(zip(nodes, z.split(sizes), strict=True))
        values = {n: parts[n].reshape(system.event_shapes[n]) for n in nodes}
        outs = []
        for node in nodes:
            out = system.mechanisms[node](**{p: values[p] for p in system.parents[node]})
            out = torch.as_tensor(out, dtype=z.dtype)
            shape = torch.broadcast_shapes(out.shape, system.event_shapes[node])
            outs.append(first(out.expand(shape), node))
        return torch.cat([o.reshape(-1) for o in outs])

    with torch.enable_grad():
        return torch.autograd.functional.jacobian(f, z)
