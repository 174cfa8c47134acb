"""Effectful operations: :func:`equilibrate`, the equilibrium of a cyclic SCM."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from pyro.poutine.runtime import effectful

from .distributions.sites import CapturedSystem, equilibrate_noisy, record_node
from .internals.equilibrium import solve_equilibrium


@effectful(type="equilibrate")
def _equilibrate_op(
    *,
    system: str,
    mechanisms: Mapping[str, Callable[..., torch.Tensor]],
    init: Mapping[str, torch.Tensor],
    event_dims: Mapping[str, int] | None = None,
    solver=None,
    solver_overrides: Mapping[str, Any] | None = None,
):
    return solve_equilibrium(
        mechanisms,
        init,
        system=system,
        event_dims=event_dims,
        solver=solver,
        solver_overrides=solver_overrides,
    )


@effectful(type="equilibrate")
def _capture_system_op(
    *,
    system: str,
    mechanisms: Mapping[str, Callable[..., torch.Tensor]],
    init: Mapping[str, torch.Tensor],
    event_dims: Mapping[str, int] | None = None,
    solver=None,
    solver_overrides: Mapping[str, Any] | None = None,
    noise: Mapping[str, Any] | None = None,
):
    """The ``equilibrate`` message of a noisy system: handlers (``do``, solvers) edit its
    mechanisms and solver as usual, and it returns them instead of solving."""
    point = {k: torch.as_tensor(v) for k, v in init.items()}
    return CapturedSystem(dict(mechanisms), solver, dict(solver_overrides or {}), point)


def equilibrate(
    name: str,
    mechanisms: Mapping[str, Callable[..., torch.Tensor]],
    init: Mapping[str, torch.Tensor],
    *,
    event_dims: Mapping[str, int] | None = None,
    noise: Mapping[str, Any] | None = None,
    obs: Mapping[str, torch.Tensor] | None = None,
    logdet: Any = "auto",
    **solver_overrides: Any,
) -> dict[str, torch.Tensor]:
    """Solve the structural assignments ``x_k := f_k(Pa_k)`` of a (cyclic) SCM jointly.

    An effectful op: handlers such as :func:`~pyro_causal_eq.do` (interventions on the
    mechanisms) and :class:`~pyro_causal_eq.Anderson` / :class:`~pyro_causal_eq.Newton` /
    :class:`~pyro_causal_eq.Picard` (solver configuration) act on it in any nesting order.
    Each node value is recorded as a ``pyro.deterministic`` site named after the node; the
    solver's diagnostics (``iterations``, ``residual``, ``converged``, ``solver``) are in that
    site's ``infer["equilibrium"]``. Gradients with respect to anything the mechanisms close
    over are exact to solver tolerance (implicit differentiation).

    :param name: name of the system (used in messages and by warm starts).
    :param mechanisms: node name -> callable whose argument names are its parents (other
        nodes of this system); parameters come from closures.
    :param init: node name -> initial value; its shape defines the node's shape. Leading
        batch dimensions (plates, batched parameters) broadcast and converge per element.
    :param event_dims: node name -> number of rightmost dims of ``init`` that form the node
        (default: all of them); needed only when ``init`` itself carries batch dimensions.
    :param noise: node name -> distribution of an additive exogenous noise ``u_k``:
        ``x_k := f_k(Pa_k) + u_k``. The noisy nodes then form a real ``pyro.sample`` site (named
        after the node when one node is noisy, after the system otherwise, with the noisy nodes
        packed in system order) whose distribution is the pushforward of the noise through the
        equilibrium map, :class:`~pyro_causal_eq.distributions.EquilibriumDistribution`: it can
        be observed (``obs=`` or ``pyro.condition``), sampled, and scored by SVI / NUTS. A hard
        intervention on a noisy node removes its noise; other interventions act on ``f_k``
        (``x_k := g·f_k(Pa_k) + u_k``).
    :param obs: noisy node name -> observed value (every noisy node, or none).
    :param logdet: how ``log|det(I - ∂F/∂x)|`` is computed: ``"auto"`` / ``"exact"`` (dense
        Jacobian and LU), or an opt-in :class:`~pyro_causal_eq.distributions.Hutchinson`.
    :param solver_overrides: options of the active (or default) solver for this call, e.g.
        ``tol=1e-8``.
    :returns: node name -> equilibrium value.
    :raises EquilibriumError: when no locally unique (attracting) equilibrium is found.

    >>> import torch, pyro_causal_eq as pce
    >>> A = torch.tensor([[0.0, 0.2], [0.4, 0.0]], dtype=torch.float64)
    >>> y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> x = pce.equilibrate("economy", {"x": lambda x: A @ x + y},
    ...                     init={"x": torch.zeros(2, dtype=torch.float64)})
    >>> x["x"]
    tensor([1.5217, 2.6087], dtype=torch.float64)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"equilibrate: name must be a non-empty string, got {name!r}")
    if noise is not None or obs is not None:
        return equilibrate_noisy(
            _capture_system_op,
            name,
            mechanisms,
            init,
            noise=noise,
            obs=obs,
            event_dims=event_dims,
            logdet=logdet,
            solver_overrides=solver_overrides,
        )
    values, diagnostics, layout = _equilibrate_op(
        system=name,
        mechanisms=mechanisms,
        init=init,
        event_dims=event_dims,
        solver=None,
        solver_overrides=solver_overrides,
        name=name,
    )
    diagnostics = dict(diagnostics, system=name)
    return {
        node: record_node(name, node, values[node], len(event_shape), diagnostics)
        for node, event_shape in zip(layout.names, layout.event_shapes, strict=True)
    }
