"""The default implementation of the ``equilibrate`` op: validate, pack, solve, unpack."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import EquilibriumError
from .auto_solver import default_solver
from .mechanisms import Mechanism, NodeLayout, evaluate, mechanism_parents
from .no_sampling import ForbidSampling
from .transforms import raise_if_unsupported_transform


def _as_tensor(value, node: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"init value of node {node!r} is not a tensor: {value!r}") from error
    return tensor if tensor.is_floating_point() else tensor.to(torch.get_default_dtype())


def _broadcast_shapes(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` with a fast path for equal shapes (the common case)."""
    first = shapes[0]
    if all(shape == first for shape in shapes[1:]):
        return torch.Size(first)
    return torch.broadcast_shapes(*shapes)


def _node_shapes(system, node, init, out, event_dim):
    """``(batch shape of the output, event shape)`` of a node, validated strictly: the
    mechanism's output must end in exactly the node's event shape (no broadcasting of, e.g.,
    a scalar to a ``(3,)`` node); only its leading batch dimensions may differ."""
    if not 0 <= event_dim <= init.dim():
        raise ValueError(
            f"equilibrate({system!r}): event_dims[{node!r}] = {event_dim} is not within the "
            f"{init.dim()} dimensions of its init"
        )
    event_shape = init.shape[init.dim() - event_dim :]
    if event_shape.numel() == 0:
        raise ValueError(
            f"equilibrate({system!r}): node {node!r} is empty (shape {tuple(event_shape)} "
            "from its init): a node needs at least one scalar"
        )
    out_event = out.shape[max(0, out.dim() - event_dim) :]
    if out.dim() < event_dim or out_event != event_shape:
        raise ValueError(
            f"equilibrate({system!r}): mechanism of node {node!r} returned shape "
            f"{tuple(out.shape)}, which does not end in the node's shape {tuple(event_shape)} "
            "given by its init (outputs are not broadcast to the node; leading batch "
            "dimensions may differ, pass event_dims to declare batch dimensions of init)"
        )
    return out.shape[: out.dim() - event_dim], torch.Size(event_shape)


def _layout(system, nodes, init, first, event_dims) -> NodeLayout:
    batch_shapes, event_shapes = [], []
    for node in nodes:
        event_dim = event_dims.get(node, init[node].dim())
        out_batch, event_shape = _node_shapes(system, node, init[node], first[node], event_dim)
        batch_shapes += [out_batch, init[node].shape[: init[node].dim() - event_dim]]
        event_shapes.append(event_shape)
    try:
        batch_shape = _broadcast_shapes(*batch_shapes)
    except RuntimeError:
        shapes = {n: tuple(first[n].shape) for n in nodes}
        raise ValueError(
            f"equilibrate({system!r}): batch shapes of the nodes do not broadcast: {shapes}"
        ) from None
    if batch_shape.numel() == 0:
        raise ValueError(
            f"equilibrate({system!r}): the batch shape {tuple(batch_shape)} is empty (a zero-"
            "size plate or parameter batch)"
        )
    return NodeLayout(tuple(nodes), tuple(event_shapes), torch.Size(batch_shape), system)


def _check_devices(system, values, first) -> None:
    """Every init value and mechanism output on one device (no silent transfers)."""
    devices = {f"init of {k!r}": v.device for k, v in values.items()}
    devices.update({f"output of {k!r}": v.device for k, v in first.items()})
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{k}: {d}" for k, d in devices.items())
        raise TypeError(
            f"equilibrate({system!r}): init values and mechanism outputs are on different "
            f"devices ({listing}); move them to one device"
        )


def solve_equilibrium(
    mechanisms: Mapping[str, Mechanism],
    init: Mapping[str, torch.Tensor],
    *,
    system: str,
    event_dims: Mapping[str, int] | None = None,
    solver=None,
    solver_overrides: Mapping | None = None,
) -> tuple[dict[str, torch.Tensor], dict, NodeLayout]:
    """Solve ``x = F(x)`` for the structural assignments ``mechanisms``.

    :returns: node values, diagnostics and the layout (event dimensions per node).
    """
    raise_if_unsupported_transform(system)
    if not isinstance(mechanisms, Mapping) or not mechanisms:
        raise TypeError(f"equilibrate({system!r}): mechanisms must be a non-empty dict")
    if not isinstance(init, Mapping):
        raise TypeError(f"equilibrate({system!r}): init must be a dict of node values")
    nodes = list(mechanisms)
    for node, mechanism in mechanisms.items():
        if not callable(mechanism):
            raise TypeError(f"equilibrate({system!r}): mechanism of {node!r} is not callable")
    missing, extra = set(nodes) - set(init), set(init) - set(nodes)
    if missing or extra:
        raise ValueError(
            f"equilibrate({system!r}): init must give every node and nothing else; "
            f"missing {sorted(missing)}, unknown {sorted(extra)}"
        )
    event_dims = dict(event_dims or {})
    unknown = set(event_dims) - set(nodes)
    if unknown:
        raise ValueError(f"equilibrate({system!r}): event_dims for unknown nodes {sorted(unknown)}")
    parents = {node: mechanism_parents(mechanisms[node], nodes, node) for node in nodes}
    values = {node: _as_tensor(init[node], node) for node in nodes}
    for node, value in values.items():
        if not bool(torch.isfinite(value).all()):
            raise EquilibriumError(f"equilibrate({system!r}): init of node {node!r} is not finite")
    # one guard around every evaluation of the mechanisms (entered once, not per evaluation)
    with ForbidSampling(system):
        with torch.no_grad():  # shapes, dtypes and finiteness only: no graph
            first = evaluate(mechanisms, parents, values, system)
        _check_devices(system, values, first)
        for node, value in first.items():
            if not bool(torch.isfinite(value).all()):
                raise EquilibriumError(
                    f"equilibrate({system!r}): mechanism of node {node!r} returns NaN or inf at "
                    "the initial point; check its parameters (NaN?) and init"
                )
        layout = _layout(system, nodes, values, first, event_dims)
        dtype = _common_dtype(list(first.values()) + list(values.values()))
        values = {k: v.to(dtype) for k, v in values.items()}

        def f(z: torch.Tensor) -> torch.Tensor:
            out = layout.pack(evaluate(mechanisms, parents, layout.unpack(z), system))
            return out if out.dtype == dtype else out.to(dtype)

        solver = solver if solver is not None else default_solver(layout.size)
        solver = solver.with_options(**dict(solver_overrides or {}))
        z0 = layout.pack(values)
        z, diagnostics = solver.solve(f, z0, system=system)
    diagnostics["parents"] = parents
    return layout.unpack(z), diagnostics, layout


def _common_dtype(tensors: list[torch.Tensor]) -> torch.dtype:
    """The system's dtype: the promotion (``torch.promote_types``) of the init values and the
    mechanism outputs at the init; a non-floating result falls back to the default dtype."""
    dtype = tensors[0].dtype
    for tensor in tensors[1:]:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype if dtype.is_floating_point else torch.get_default_dtype()
