"""The intervention design loop: optimize Lie group elements against an objective on the trace."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pyro.poutine as poutine
import torch
from tqdm import tqdm

from .groups import SO, Affine, LieGroupElement, Scale, Shift
from .handlers.do import do


class Learnable:
    """A group element to optimize, parameterized by unconstrained coordinates.

    By default the coordinates live in the Lie algebra (``Scale``: ``log α``; ``Shift``:
    ``δ``; ``Affine``: ``(a, b)``; ``SO(n)``: ``n (n-1)/2`` angles), starting at the
    identity. A ``Scale`` may instead be bounded, ``α = lo + (hi - lo) sigmoid(d)``, as in the
    paper's ``α = 2 sigmoid(d)`` for ``bounds=(0, 2)``.

    :param group: the group class (``pce.Scale``, ``pce.Shift``, ``pce.Affine``, ``pce.SO``).
    :param shape: shape of the element's parameters (for ``SO``: ``(n,)``, the vector size).
    :param init: initial element (default: the identity).
    :param bounds: ``(lo, hi)`` with ``0 <= lo < 1 < hi`` for a bounded ``Scale``.

    >>> spec = Learnable(Scale, shape=(2,), bounds=(0.0, 2.0))
    >>> spec.element().factor
    tensor([1., 1.], grad_fn=<AddBackward0>)
    """

    def __init__(
        self,
        group: type[LieGroupElement],
        shape=(),
        init: LieGroupElement | None = None,
        bounds: tuple[float, float] | None = None,
        dtype: torch.dtype | None = None,
    ):
        if group not in (Scale, Shift, Affine, SO):
            raise TypeError(f"Learnable supports Scale, Shift, Affine and SO, not {group!r}")
        self.group, self.bounds = group, bounds
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        dtype = dtype or torch.get_default_dtype()
        if bounds is not None:
            lo, hi = bounds
            if group is not Scale or not (0 <= lo < 1 < hi):
                raise ValueError(f"bounds need a Scale and 0 <= lo < 1 < hi, got {bounds}")
        if group is SO:
            if not shape:
                raise ValueError("Learnable(SO) needs shape=(n,), the size of the vectors")
            n = shape[-1]
            shape = shape[:-1] + (n * (n - 1) // 2,)
        elif group is Affine:
            shape = shape + (2,)
        if init is None:
            raw = torch.zeros(shape, dtype=dtype)
            if bounds is not None:
                raw = raw + math.log((1 - bounds[0]) / (bounds[1] - 1))
        elif bounds is not None:
            p = ((init.factor - bounds[0]) / (bounds[1] - bounds[0])).to(dtype)
            raw = (p.log() - (-p).log1p()).expand(shape).clone()
        else:
            raw = init.log().to(dtype).expand(shape).clone()
        self.raw = raw.requires_grad_(True)

    def element(self) -> LieGroupElement:
        """The group element at the current parameters (differentiable)."""
        if self.bounds is not None:
            lo, hi = self.bounds
            return Scale(lo + (hi - lo) * torch.sigmoid(self.raw))
        return self.group.exp(self.raw)


@dataclass
class OptimizeResult:
    """Outcome of :func:`optimize`.

    :param actions: the optimized group elements (detached), ready for ``pce.do``.
    :param params: the unconstrained parameters (detached).
    :param losses: objective value per step.
    :param converged: whether the convergence criterion was met before ``steps``.
    :param steps: number of steps taken.
    :param grad_norm: norm of the gradient at the last step.

    >>> result = OptimizeResult(actions={"x": Scale(1.5)}, params={"x": torch.tensor(0.4)})
    >>> float(result.actions["x"].factor), result.converged
    (1.5, False)
    """

    actions: dict[str, LieGroupElement]
    params: dict[str, torch.Tensor]
    losses: list[float] = field(default_factory=list)
    converged: bool = False
    steps: int = 0
    grad_norm: float = float("nan")


def optimize(
    model: Callable,
    actions: Mapping[str, Learnable],
    objective: Callable[[poutine.Trace], torch.Tensor],
    args: tuple = (),
    kwargs: Mapping | None = None,
    *,
    steps: int = 500,
    lr: float = 0.05,
    optimizer: str | Callable = "adam",
    tol: float = 1e-10,
    gtol: float = 1e-8,
    patience: int = 5,
    fixed_actions: Mapping[str, object] | None = None,
    progress: bool = False,
) -> OptimizeResult:
    """Optimize interventions: minimize ``objective(trace)`` of the intervened model.

    Each step runs ``pce.do(model, actions)`` under ``poutine.trace`` with the current group
    elements, evaluates the objective on the trace and takes an optimizer step; gradients
    flow through equilibria by implicit differentiation. Stops when the objective changes by
    less than ``tol`` (relative) for ``patience`` consecutive steps, or the gradient norm is
    below ``gtol``.

    :param model: a Pyro model.
    :param actions: site or node name -> :class:`Learnable`.
    :param objective: ``trace -> scalar tensor`` to minimize.
    :param args: model arguments.
    :param kwargs: model keyword arguments.
    :param steps: maximal number of optimizer steps.
    :param lr: learning rate.
    :param optimizer: ``"adam"``, ``"lbfgs"`` (strong Wolfe line search; best for smooth,
        deterministic objectives) or a factory ``params -> torch.optim.Optimizer``.
    :param tol: relative change of the objective considered converged.
    :param gtol: gradient norm considered converged.
    :param patience: consecutive small changes needed.
    :param fixed_actions: further (non-learned) actions applied with the learned ones.
    :param progress: show a progress bar.

    >>> import torch, pyro, pyro_causal_eq as pce
    >>> def model():
    ...     x = pce.equilibrate("s", {"x": lambda x: 0.5 * x + 1.0},
    ...                         init={"x": torch.zeros((), dtype=torch.float64)})
    ...     return x
    >>> spec = Learnable(Scale, bounds=(0.0, 1.9), dtype=torch.float64)  # keeps ρ(α/2) < 1
    >>> result = optimize(model, {"x": spec}, lambda tr: (tr.nodes["x"]["value"] - 3.0) ** 2,
    ...                   optimizer="lbfgs")
    >>> round(float(result.actions["x"].factor), 6)  # x = 2α / (2 - α) = 3
    1.2
    """
    if not actions:
        raise ValueError("optimize needs at least one Learnable action")
    for key, spec in actions.items():
        if not isinstance(spec, Learnable):
            raise TypeError(f"action {key!r} must be a pce.Learnable, got {type(spec).__name__}")
    kwargs = dict(kwargs or {})
    fixed = dict(fixed_actions or {})
    params = [spec.raw for spec in actions.values()]
    if callable(optimizer):
        opt = optimizer(params)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    elif optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            params, lr=lr if lr != 0.05 else 1.0, max_iter=20, line_search_fn="strong_wolfe"
        )
    else:
        raise ValueError(f"optimizer must be 'adam', 'lbfgs' or a factory, got {optimizer!r}")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        elements = {key: spec.element() for key, spec in actions.items()}
        trace = poutine.trace(do(model, actions={**fixed, **elements})).get_trace(*args, **kwargs)
        loss = objective(trace)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError("the objective must return a scalar tensor")
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f"the objective is not finite ({float(loss)})")
        loss.backward()
        return loss

    result = OptimizeResult(actions={}, params={})
    quiet = 0
    bar = tqdm(range(steps), disable=not progress, desc="optimize", leave=False)
    for step in bar:
        loss = float(opt.step(closure).detach())
        grad_norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None))
        previous = result.losses[-1] if result.losses else None
        result.losses.append(loss)
        result.steps, result.grad_norm = step + 1, grad_norm
        bar.set_postfix(loss=f"{loss:.6g}")
        if previous is not None and abs(previous - loss) <= tol * max(abs(loss), 1.0):
            quiet += 1
        else:
            quiet = 0
        if quiet >= patience or grad_norm <= gtol:
            result.converged = True
            break
    with torch.no_grad():
        result.actions = {key: _detached(spec.element()) for key, spec in actions.items()}
        result.params = {key: spec.raw.detach().clone() for key, spec in actions.items()}
    return result


def _detached(element: LieGroupElement) -> LieGroupElement:
    if isinstance(element, Scale):
        return Scale(element.factor.detach())
    if isinstance(element, Shift):
        return Shift(element.delta.detach())
    if isinstance(element, Affine):
        return Affine(element.scale.detach(), element.shift.detach())
    return SO(element.matrix.detach(), check=False)
