"""Gradient-based trade-off design on the Pyro model: ``pce.equilibrate`` + ``pce.do`` +
``pce.Scale`` compute ``x(α)`` and its implicit gradient.

- :func:`adam_protocol`: the paper's protocol (Adam, ``α = lo + (hi - lo) sigmoid(d)``, a fixed
  number of steps, an exact solve each step), the baseline of the benchmark.
- :func:`lbfgs_design`: box-constrained L-BFGS-B on ``α`` with a smoothed L1 term whose
  smoothing is driven to zero (continuation), warm-startable.
"""

from __future__ import annotations

import numpy as np
import torch

from ..handlers import Anderson, do
from .interventions import assignment_actions, bounded_factor, demand_actions
from .objective import TradeoffObjective
from .sparse import sparse_output


def intervened_output(model, alpha: torch.Tensor, target: str = "assignment") -> torch.Tensor:
    """``x(α)`` of an :meth:`IOModel.model` under the multiplicative intervention ``α``; a
    sparse :class:`IOModel` in place of ``model`` uses sparse LU both ways."""
    if getattr(model, "sparse", False):
        return sparse_output(model, alpha, target)
    actions = assignment_actions(alpha) if target == "assignment" else demand_actions(alpha)
    with do(actions=actions):
        return model()


def adam_protocol(
    objective: TradeoffObjective,
    lam: float,
    *,
    steps: int = 20_000,
    lr: float = 1e-3,
    bounds=(0.0, 2.0),
    target: str = "assignment",
    solve: str = "lu",
    d0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's optimization: Adam on ``d`` with ``α = lo + (hi - lo) sigmoid(d)``.

    :param solve: ``"lu"`` (a dense ``torch.linalg.solve`` of ``(I - diag(α)A) x = α y`` each
        step, exact and the fastest exact solve) or ``"pce"`` (``pce.equilibrate`` with
        ``pce.do(Scale(α))`` and implicit gradients).
    :returns: final ``α`` and the objective per step.
    """
    io = objective.io
    if io.sparse:
        solve = "sparse"
    else:
        A = torch.as_tensor(io.A, dtype=torch.float64)
        y = torch.as_tensor(io.y, dtype=torch.float64)
        eye = torch.eye(io.n, dtype=torch.float64)
    d = torch.zeros(io.n, dtype=torch.float64) if d0 is None else torch.as_tensor(d0).clone()
    d.requires_grad_(True)
    optimizer = torch.optim.Adam([d], lr=lr)
    model = io.model(dtype=torch.float64) if solve == "pce" else None
    history = np.empty(steps)
    context = Anderson(warm_start=True) if solve == "pce" else None
    for step in range(steps):
        optimizer.zero_grad()
        alpha = bounded_factor(d, bounds)
        if solve == "pce":
            with context:
                x = intervened_output(model, alpha, target)
        elif solve == "sparse":
            x = sparse_output(io, alpha, target)
        elif target == "assignment":
            x = torch.linalg.solve(eye - alpha[:, None] * A, alpha * y)
        else:
            x = torch.linalg.solve(eye - A, alpha * y)
        loss = objective.torch_value(x, lam)
        loss.backward()
        optimizer.step()
        history[step] = float(loss.detach())
    with torch.no_grad():
        alpha = bounded_factor(d, bounds).numpy()
    return alpha, history


def lbfgs_design(
    objective: TradeoffObjective,
    lam: float,
    *,
    alpha0: np.ndarray | None = None,
    bounds=(0.0, 2.0),
    target: str = "assignment",
    smoothing=(1e-2, 1e-4, 1e-6),
    max_iter: int = 500,
) -> tuple[np.ndarray, int]:
    """L-BFGS-B over ``α`` in the box, gradients from the Pyro model (implicit).

    :param objective: the trade-off objective.
    :param lam: trade-off weight.
    :param alpha0: warm start (default: ``1``).
    :param bounds: ``(lo, hi)`` of the factors.
    :param target: ``"assignment"`` or ``"demand"``.
    :param smoothing: continuation of the relative smoothing of ``|·|`` (ignored for ``l2``).
    :param max_iter: L-BFGS-B iterations per smoothing stage.
    :returns: ``α`` and the number of model evaluations.

    >>> from pyro_causal_eq.economics import IOModel, TradeoffObjective
    >>> io = IOModel([[0.2]], [8.0], [[2.0], [0.5]], indicators=["GHG", "JOBS"])
    >>> alpha, _ = lbfgs_design(TradeoffObjective(io, "GHG", "JOBS"), lam=1.0)
    >>> alpha.round(6)  # GHG 2 per unit outweighs the job penalty 0.5: shut down
    array([0.])
    """
    from scipy.optimize import minimize

    io = objective.io
    lo, hi = bounds
    floor = max(lo, 1e-12 * (hi - lo))  # pce.Scale needs positive factors
    model = io if io.sparse else io.model(dtype=torch.float64)
    alpha = np.clip(np.ones(io.n) if alpha0 is None else np.asarray(alpha0), floor, hi)
    evaluations = 0
    solver = Anderson(warm_start=True)
    stages = (0.0,) if objective.penalty == "l2" else tuple(smoothing)
    for mu in stages:

        def fun(a: np.ndarray, mu=mu):
            nonlocal evaluations
            evaluations += 1
            a_t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
            with solver:
                x = intervened_output(model, a_t, target)
            loss = objective.torch_value(x, lam, smoothing=mu)
            (grad,) = torch.autograd.grad(loss, a_t)
            scale = max(abs(objective.value(objective.x0, 0.0)), 1e-300)
            return float(loss.detach()) / scale, grad.numpy() / scale

        result = minimize(
            fun,
            alpha,
            jac=True,
            method="L-BFGS-B",
            bounds=[(floor, hi)] * io.n,
            options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-12},
        )
        alpha = result.x
    return alpha, evaluations
