"""Intervention design under posterior uncertainty: ``pce.optimize`` over posterior draws."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyro
import torch

from ..groups import Shift
from ..handlers.do import do
from ..ops import equilibrate
from ..optimize import Learnable, optimize
from .scm import CyclicSCM

RISKS = ("mean", "cvar")


@dataclass
class DesignResult:
    """A designed intervention and its effect on every posterior draw.

    :param shift: the designed shift of the actuator nodes.
    :param outcome: the target node under the design, one value per draw.
    :param baseline: the target node without intervention, per draw.
    :param losses: the optimization trace.
    :param dropped: posterior draws left out because their equilibrium is not attracting
        (``ρ(W) ≥ 1``: no steady state to design for).
    """

    shift: torch.Tensor
    outcome: torch.Tensor
    baseline: torch.Tensor
    losses: list[float]
    dropped: int = 0

    @property
    def effect(self) -> torch.Tensor:
        return self.outcome - self.baseline

    def summary(self, hdi_prob: float = 0.9):
        """ArviZ summary of the outcome and effect over the posterior draws."""
        import arviz as az

        data = az.from_dict(
            posterior={"outcome": self.outcome[None].numpy(), "effect": self.effect[None].numpy()}
        )
        return az.summary(data, hdi_prob=hdi_prob, kind="stats")


def _design_model(scm: CyclicSCM, W, b, actuators: torch.Tensor):
    def model():
        control = pyro.deterministic("control", torch.zeros(len(actuators), dtype=b.dtype))
        shift = torch.zeros(scm.d, dtype=b.dtype).index_add(0, actuators, control)
        f = scm.mechanism(W, b)
        return equilibrate(
            "design",
            {"x": lambda x: f(x) + shift},
            init={"x": torch.zeros(scm.d, dtype=b.dtype)},
        )["x"]

    return model


def evaluate_design(
    scm: CyclicSCM,
    params: Mapping[str, torch.Tensor],
    actuators: Sequence[int],
    shift: torch.Tensor,
) -> torch.Tensor:
    """The noise-free equilibria ``x = f(x) + shift`` (on the actuators) of one model or of
    every draw, ``(S, d)``: e.g. a design made on the posterior, evaluated on the true model.

    >>> scm = CyclicSCM(2, "linear")
    >>> W, b = torch.tensor([[0.0, 0.5], [0.0, 0.0]]), torch.zeros(2)
    >>> evaluate_design(scm, {"W": W, "b": b}, [1], torch.tensor([2.0]))
    tensor([[1., 2.]])
    """
    W, b = params["W"].detach(), params["b"].detach()
    if W.dim() == 2:
        W, b = W[None], b[None]
    model = _design_model(scm, W, b, torch.as_tensor(list(actuators)))
    with torch.no_grad():
        x = do(model, actions={"control": Shift(torch.as_tensor(shift, dtype=b.dtype))})()
    return x.reshape(-1, scm.d)


def _loss(outcomes, goal, risk, alpha):
    losses = (outcomes - goal) ** 2
    if risk == "mean":
        return losses.mean()
    k = max(1, int(round((1 - alpha) * losses.numel())))
    return losses.reshape(-1).topk(k).values.mean()  # CVaR: the mean of the worst tail


def robust_design(
    scm: CyclicSCM,
    draws: Mapping[str, torch.Tensor],
    target: int,
    goal: float,
    actuators: Sequence[int],
    *,
    risk: str = "mean",
    alpha: float = 0.9,
    cost: float = 1e-3,
    steps: int = 200,
    lr: float = 0.05,
    optimizer: str = "adam",
) -> DesignResult:
    """Design shifts of the ``actuators`` that bring node ``target`` to ``goal``, for every
    posterior draw at once (the draws form a batch of equilibria), by :func:`pce.optimize
    <pyro_causal_eq.optimize>` of ``risk`` of the squared miss plus ``cost ||shift||²``:
    ``"mean"`` (expected loss) or ``"cvar"`` (mean of the worst ``1 - alpha`` fraction of
    draws, risk-averse). Outcomes are the noise-free equilibria ``x = f(x) + shift``.

    :param draws: posterior draws with ``W (S, d, d)`` and ``b (S, d)`` (``S = 1`` for one
        model, e.g. the true one).
    :param optimizer: ``"adam"`` or ``"lbfgs"`` (for smooth objectives such as ``"mean"``).
    :returns: a :class:`DesignResult`.

    >>> W = torch.tensor([[[0.0, 0.5], [-0.4, 0.0]]], dtype=torch.float64)  # one draw
    >>> draws = {"W": W, "b": torch.tensor([[0.3, -0.1]], dtype=torch.float64)}
    >>> scm = CyclicSCM(2, "linear", sigma=0.5)
    >>> design = robust_design(scm, draws, target=1, goal=0.5, actuators=[0])
    >>> bool(abs(float(design.outcome[0]) - 0.5) < 0.05)
    True
    """
    if risk not in RISKS:
        raise ValueError(f"risk must be one of {RISKS}, got {risk!r}")
    W, b = draws["W"].detach(), draws["b"].detach()
    if W.dim() == 2:
        W, b = W[None], b[None]
    # a draw whose steady state is not attracting has no equilibrium to design for
    stable = torch.linalg.eigvals(W).abs().amax(-1) < 1.0
    if not bool(stable.any()):
        raise ValueError("robust_design: no draw has an attracting equilibrium (ρ(W) >= 1)")
    dropped = int((~stable).sum())
    if dropped:
        warnings.warn(f"robust_design: left out {dropped} draw(s) with ρ(W) >= 1", stacklevel=2)
        W, b = W[stable], b[stable]
    index = torch.as_tensor(list(actuators))
    model = _design_model(scm, W, b, index)

    def objective(trace):
        outcome = trace.nodes["x"]["value"][..., target]
        control = trace.nodes["control"]["value"]
        return _loss(outcome, goal, risk, alpha) + cost * (control**2).sum()

    spec = Learnable(Shift, shape=(len(index),), dtype=b.dtype)
    if optimizer == "lbfgs":  # tight tolerances: the squared miss is tiny near the goal

        def optimizer(params):
            return torch.optim.LBFGS(
                params,
                max_iter=50,
                tolerance_grad=1e-14,
                tolerance_change=1e-16,
                line_search_fn="strong_wolfe",
            )

    result = optimize(model, {"control": spec}, objective, steps=steps, lr=lr, optimizer=optimizer)
    with torch.no_grad():
        outcome = do(model, actions=result.actions)()[..., target].reshape(-1)
        baseline = model()[..., target].reshape(-1)
    shift = result.actions["control"].delta
    return DesignResult(shift, outcome, baseline, result.losses, dropped)
