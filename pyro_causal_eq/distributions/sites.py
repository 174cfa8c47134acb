"""Trace sites of an ``equilibrate`` call: the noisy-node sample site and node records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pyro
import pyro.distributions as dist
import torch
from pyro.poutine.runtime import am_i_wrapped

from .equilibrium import EquilibriumDistribution


@dataclass
class CapturedSystem:
    """Mechanisms and solver of a system after the handlers (``do``, solvers) edited them."""

    mechanisms: dict
    solver: object = None
    solver_overrides: dict = field(default_factory=dict)
    init: dict = field(default_factory=dict)

    def __iter__(self):
        # unpacks like a solved system, (values at a point, diagnostics, layout), for
        # handlers that read the solved message value (e.g. causal_graph's recorder)
        return iter((self.init, {}, None))


def record_node(
    system: str, node: str, value, event_dim: int, diagnostics, joint: list[str] | None = None
) -> torch.Tensor:
    """Record a node without noise as a deterministic site (a masked ``Delta``); refuse to
    have it conditioned (``pyro.condition`` would silently hard-intervene on it)."""
    if not am_i_wrapped():  # no handler: nothing records or conditions the site
        return value
    recorded = pyro.sample(
        node,
        dist.Delta(value, event_dim=event_dim).mask(False),
        obs=value,
        infer={"_deterministic": True, "equilibrium": diagnostics},
    )
    if recorded is not value and not _same(recorded, value):
        if joint:
            raise ValueError(
                f"equilibrate({system!r}): node {node!r} is one of the noisy nodes {joint}, "
                f"which form one joint sample site {system!r} (their values packed in this "
                f"order): condition {system!r} on the packed vector, or pass obs= for every "
                "noisy node"
            )
        raise ValueError(
            f"equilibrate({system!r}): node {node!r} is deterministic (it has no noise), so it "
            "cannot be conditioned on (pyro.condition / data would overwrite the equilibrium "
            f"silently). Give it exogenous noise, noise={{{node!r}: <distribution>}}, so that "
            "it is a real sample site, or observe it through a separate site, e.g. "
            f"pyro.sample({node + '_obs'!r}, dist.Normal(x[{node!r}], sigma), obs=data); to fix "
            f"its value, intervene with pce.do(actions={{{node!r}: value}}) instead"
        )
    return recorded


def _same(a, b) -> bool:
    """Equal values (handlers such as ``causal_graph`` swap in equal leaf copies)."""
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return False
    return bool(torch.equal(a.detach(), b.detach()))


def _check_keys(system: str, nodes: list[str], noise, obs) -> None:
    if not isinstance(noise, Mapping):
        raise TypeError(f"equilibrate({system!r}): noise must be a dict node -> distribution")
    unknown = sorted(set(noise) - set(nodes))
    if unknown:
        raise KeyError(
            f"equilibrate({system!r}): noise for {unknown}, which are not nodes of the system "
            f"(nodes: {nodes})"
        )
    unknown = sorted(set(obs) - set(noise))
    if unknown:
        raise KeyError(
            f"equilibrate({system!r}): obs for {unknown}, which have no noise; only noisy "
            f"nodes (here {sorted(noise)}) can be observed"
        )


def equilibrate_noisy(
    capture_op: Callable,
    name: str,
    mechanisms: Mapping,
    init: Mapping,
    *,
    noise,
    obs,
    event_dims,
    logdet,
    solver_overrides,
) -> dict[str, torch.Tensor]:
    """``equilibrate`` with additive noise: one sample site of the pushforward distribution,
    deterministic records of the other nodes."""
    noise, obs = noise or {}, dict(obs or {})
    if not isinstance(mechanisms, Mapping) or not mechanisms:
        raise TypeError(f"equilibrate({name!r}): mechanisms must be a non-empty dict")
    _check_keys(name, list(mechanisms), noise, obs)
    captured = capture_op(
        system=name,
        mechanisms=mechanisms,
        init=init,
        event_dims=event_dims,
        solver=None,
        solver_overrides=solver_overrides,
        noise=noise,
        name=name,
    )
    if not isinstance(captured, CapturedSystem):
        raise TypeError(
            f"equilibrate({name!r}): a handler answered the equilibrate op of a noisy system "
            f"itself (got {type(captured).__name__}); noisy systems need handlers that only "
            "edit mechanisms and solver"
        )
    # a hard intervention fixes a node: it keeps no noise
    hard = {k for k, f in captured.mechanisms.items() if getattr(f, "_pce_hard", False)}
    noise = {k: v for k, v in noise.items() if k not in hard}
    diagnostics = {"system": name, "noisy": sorted(noise)}
    if not noise:
        return _all_fixed(name, captured, init, event_dims, diagnostics)
    law = EquilibriumDistribution(
        name,
        captured.mechanisms,
        init,
        noise,
        event_dims=event_dims,
        solver=captured.solver,
        solver_overrides=captured.solver_overrides,
        logdet=logdet,
    )
    site = law.noisy[0] if len(law.noisy) == 1 else name
    observed = _observed(name, law, {k: v for k, v in obs.items() if k in noise})
    value = pyro.sample(site, law, obs=observed, infer={"equilibrium": diagnostics})
    values = law.node_values(value)
    out = {}
    for node in law.nodes:
        if node == site:
            out[node] = value
        else:
            event_dim = len(law.event_shapes[node])
            joint = law.noisy if node in law.noisy else None
            out[node] = record_node(name, node, values[node], event_dim, diagnostics, joint)
    return out


def _observed(name, law: EquilibriumDistribution, obs):
    if not obs:
        return None
    missing = sorted(set(law.noisy) - set(obs))
    if missing:
        raise ValueError(
            f"equilibrate({name!r}): obs must give every noisy node or none; missing {missing}"
        )
    values = {}
    for k in law.noisy:
        value = torch.as_tensor(obs[k])
        event = law.event_shapes[k]
        if value.shape[value.dim() - len(event) :] != event or value.dim() < len(event):
            raise ValueError(
                f"equilibrate({name!r}): obs of node {k!r} has shape {tuple(value.shape)}, "
                f"whose trailing dims are not the node's shape {tuple(event)}"
            )
        values[k] = value
    if len(law.noisy) == 1:
        return values[law.noisy[0]]
    batch = torch.broadcast_shapes(
        *[v.shape[: v.dim() - len(law.event_shapes[k])] for k, v in values.items()]
    )
    return law._layout(law.noisy, batch).pack(values)


def _all_fixed(name, captured, init, event_dims, diagnostics):
    from ..internals.equilibrium import solve_equilibrium

    values, solved, layout = solve_equilibrium(
        captured.mechanisms,
        init,
        system=name,
        event_dims=event_dims,
        solver=captured.solver,
        solver_overrides=captured.solver_overrides,
    )
    diagnostics = dict(solved, **diagnostics)
    return {
        k: record_node(name, k, values[k], len(shape), diagnostics)
        for k, shape in zip(layout.names, layout.event_shapes, strict=True)
    }
