"""The training loop shared by single and compartmentalized invariant interventions.

Least squares on the relative deviation of each invariant node, through the implicit
gradients of the intervened equilibrium in which the other nodes read the invariant nodes at
their unintervened values (the same parameters ``theta`` in both solves). Three phases, each
optional: Adam (minibatches), Levenberg-Marquardt (all draws), L-BFGS (all draws).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import EquilibriumError
from ..internals.convention import Progress
from .lm import levenberg_marquardt
from .rewire import InvariantReads
from .training import Component, node_value, run_trace


@dataclass(frozen=True)
class TrainingLog:
    """Losses (Adam steps, then Levenberg-Marquardt / L-BFGS evaluations) and wall time."""

    losses: list[float]
    seconds: float


def train(
    model: Callable,
    components: Sequence[Component],
    theta: Mapping[str, torch.Tensor],
    coords: Sequence[Mapping | None],
    *,
    args=(),
    kwargs=None,
    steps: int = 300,
    lr: float = 1e-2,
    lbfgs_steps: int = 0,
    lm_steps: int = 20,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> TrainingLog:
    """Train the replacement mechanisms of ``components`` on the parameter draws ``theta``
    (and intervention coordinates ``coords``): Adam, then Levenberg-Marquardt, then L-BFGS."""
    params = [p for c in components for p in c.mechanism.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the replacement mechanism(s) have no trainable parameters")
    bar = progress or Progress(False, None, "")
    start = time.perf_counter()
    residuals = _residuals(model, components, theta, coords, args, kwargs)
    n = next(iter(theta.values())).shape[0]
    everything = torch.arange(n)
    losses: list[float] = []
    _adam(residuals, params, n, steps, lr, batch_size, losses, bar)
    if lm_steps:
        tick = lambda loss: bar.update(loss=loss)  # noqa: E731
        levenberg_marquardt(
            lambda: residuals(everything), params, lm_steps, losses=losses, callback=tick
        )
    if lbfgs_steps:
        _lbfgs(residuals, params, everything, lbfgs_steps, losses)
    return TrainingLog(losses, time.perf_counter() - start)


def _residuals(model, components, theta, coords, args, kwargs) -> Callable:
    """``idx -> residual vector``: relative deviations of the invariant nodes on draws ``idx``
    from their unintervened values (computed once here)."""
    with torch.no_grad():
        reference = run_trace(model, theta, args, kwargs)
    n = next(iter(theta.values())).shape[0]
    targets, event_dims = {}, {}
    for c in components:
        node, shapes = c.invariant.node, c.triplet.system.event_shapes
        targets[node] = node_value(reference, node).detach().expand((n,) + shapes[node])
        event_dims[node] = c.triplet.system.event_dim(node)

    def residuals(idx: torch.Tensor) -> torch.Tensor:
        sub = {k: v[idx] for k, v in theta.items()}
        elements: dict = {}
        for c, cc in zip(components, coords, strict=True):
            if cc is not None:
                elements.update(c.elements({k: v[idx] for k, v in cc.items()}))
        reads = InvariantReads(
            {c.invariant: targets[c.invariant.node][idx] for c in components}, event_dims
        )
        trace = run_trace(model, sub, args, kwargs, components, elements, reads)
        parts = []
        for c in components:
            ev = event_dims[c.invariant.node]
            target = c.invariant.select(targets[c.invariant.node][idx], ev)
            value = c.invariant.select(node_value(trace, c.invariant.node), ev)
            scale = target.abs().maximum(1e-3 * target.abs().mean()).clamp_min(1e-300)
            parts.append(((value - target) / scale).reshape(-1))
        return torch.cat(parts)

    return residuals


def _adam(residuals, params, n, steps, lr, batch_size, losses, bar: Progress) -> None:
    """Adam on minibatches; a step that makes the intervened system unsolvable is undone and
    the learning rate halved (at most 20 times)."""
    generator = torch.Generator().manual_seed(0)
    adam = torch.optim.Adam(params, lr=lr)
    previous = [p.detach().clone() for p in params]
    failures = 0
    for _ in range(steps):
        if batch_size and batch_size < n:
            idx = torch.randperm(n, generator=generator)[:batch_size]
        else:
            idx = torch.arange(n)
        adam.zero_grad()
        try:
            loss = residuals(idx).pow(2).mean()
            loss.backward()
        except EquilibriumError:
            failures += 1
            if failures > 20:
                raise
            with torch.no_grad():
                for p, old in zip(params, previous, strict=True):
                    p.copy_(old)
            for group in adam.param_groups:
                group["lr"] *= 0.5
            continue
        previous = [p.detach().clone() for p in params]
        adam.step()
        losses.append(float(loss.detach()))
        bar.update(loss=losses[-1])


def _lbfgs(residuals, params, everything, lbfgs_steps: int, losses: list[float]) -> None:
    """Full-batch L-BFGS polish (an unsolvable trial point counts as an infinite loss)."""
    lbfgs = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=lbfgs_steps,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-14,
        tolerance_change=1e-18,
        history_size=20,
    )

    def closure():
        lbfgs.zero_grad()
        try:
            loss = residuals(everything).pow(2).mean()
        except EquilibriumError:
            return torch.tensor(float("inf"))
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    lbfgs.step(closure)
