"""The intervention design loop: optimize Lie group elements against an objective on the trace.

:func:`optimize` also sets the convention shared by the package's entry points
(``pce.optimize``, ``pce.economics.tradeoff``, ``pce.invariance.learn_invariant_intervention``,
``pce.reduction.fit``): the model (or model object) first; model arguments as
``args=(...)`` and ``kwargs={...}``; keyword-only ``steps``, ``lr``, ``seed`` (``None``: do not
reseed; otherwise the torch random stream is forked and seeded, so the caller's stream is
untouched) and ``progress`` (``False``: silent; ``True``: a tqdm bar; or a tqdm bar to update);
results are frozen dataclasses with ``to_xarray()`` (see
:mod:`pyro_causal_eq.internals.convention`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyro.poutine as poutine
import torch

from .groups import SO, Affine, LieGroupElement, Scale, Shift
from .handlers.do import do
from .internals.convention import Progress, deprecated, seeded


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


@dataclass(frozen=True)
class OptimizeResult:
    """Outcome of :func:`optimize` (immutable).

    :param actions: the optimized group elements (detached), ready for ``pce.do``.
    :param params: the unconstrained parameters (detached).
    :param losses: objective value per step.
    :param converged: whether the convergence criterion was met before ``steps``.
    :param steps: number of steps taken.
    :param grad_norm: norm of the gradient at the last step.

    >>> result = OptimizeResult(actions={"x": Scale(1.5)}, params={"x": torch.tensor(0.4)},
    ...                         losses=(2.0, 1.0), steps=2)
    >>> float(result.actions["x"].factor), result.converged
    (1.5, False)
    >>> ds = result.to_xarray()
    >>> float(ds["x_factor"]), ds["loss"].dims, ds.attrs["steps"]
    (1.5, ('step',), 2)
    """

    actions: dict[str, LieGroupElement]
    params: dict[str, torch.Tensor]
    losses: tuple[float, ...] = ()
    converged: bool = False
    steps: int = 0
    grad_norm: float = float("nan")

    def to_xarray(self):
        """An ``xarray.Dataset``: ``loss`` per step, each action's element as
        ``<name>_<field>`` (``factor``, ``delta``, ``scale`` / ``shift``, ``matrix``) and its
        unconstrained parameters as ``<name>_params``; ``converged``, ``steps``, ``grad_norm``
        and the groups as attributes."""
        import xarray as xr

        data = {"loss": ("step", torch.tensor(self.losses, dtype=torch.float64).numpy())}
        for key, element in self.actions.items():
            for name, value in element_fields(element).items():
                data[f"{key}_{name}"] = _variable(value, f"{key}_{name}")
            data[f"{key}_params"] = _variable(self.params[key], f"{key}_params")
        attrs = {"converged": int(self.converged), "steps": self.steps}
        attrs["grad_norm"] = self.grad_norm
        attrs.update({f"{key}_group": type(g).__name__ for key, g in self.actions.items()})
        return xr.Dataset(data, attrs=attrs)


def element_fields(element: LieGroupElement) -> dict[str, torch.Tensor]:
    """The tensors that define a group element, by name."""
    if isinstance(element, Scale):
        return {"factor": element.factor}
    if isinstance(element, Shift):
        return {"delta": element.delta}
    if isinstance(element, Affine):
        return {"scale": element.scale, "shift": element.shift}
    return {"matrix": element.matrix}


def _variable(value: torch.Tensor, name: str):
    value = value.detach().cpu()
    return tuple(f"{name}_dim_{i}" for i in range(value.dim())), value.numpy()


def optimize(
    model: Callable,
    actions: Mapping[str, Learnable],
    objective: Callable[[poutine.Trace], torch.Tensor],
    *legacy_args,
    args: tuple = (),
    kwargs: Mapping | None = None,
    steps: int = 500,
    lr: float | None = None,
    seed: int | None = 0,
    progress=False,
    optimizer: str | Callable = "adam",
    tol: float = 1e-10,
    gtol: float = 1e-8,
    patience: int = 5,
    fixed_actions: Mapping[str, object] | None = None,
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
    :param legacy_args: deprecated: model arguments given positionally (use ``args=``).
    :param args: positional model arguments.
    :param kwargs: keyword model arguments.
    :param steps: maximal number of optimizer steps.
    :param lr: learning rate (default 0.05 for Adam, 1 for L-BFGS).
    :param seed: seed of the model's random draws (``None``: the global stream, not reseeded).
    :param progress: ``True`` for a tqdm bar, or a tqdm bar to advance.
    :param optimizer: ``"adam"``, ``"lbfgs"`` (strong Wolfe line search; best for smooth,
        deterministic objectives) or a factory ``params -> torch.optim.Optimizer``.
    :param tol: relative change of the objective considered converged.
    :param gtol: gradient norm considered converged.
    :param patience: consecutive small changes needed.
    :param fixed_actions: further (non-learned) actions applied with the learned ones.

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
    if legacy_args:
        deprecated("optimize(model, actions, objective, a, b)", "optimize(..., args=(a, b))")
        args, kwargs = _legacy_arguments(legacy_args, args, kwargs)
    _check_actions(actions)
    params = [spec.raw for spec in actions.values()]
    opt = _optimizer(optimizer, params, lr)
    closure = _closure(model, actions, objective, args, dict(kwargs or {}), fixed_actions, opt)
    with seeded(seed), Progress(progress, steps, "optimize") as bar:
        losses, converged, grad_norm = _run(opt, closure, params, steps, tol, gtol, patience, bar)
    with torch.no_grad():
        elements = {key: _detached(spec.element()) for key, spec in actions.items()}
        raw = {key: spec.raw.detach().clone() for key, spec in actions.items()}
    return OptimizeResult(elements, raw, tuple(losses), converged, len(losses), grad_norm)


def _legacy_arguments(legacy: tuple, args, kwargs):
    if len(legacy) > 2 or args or kwargs:
        raise TypeError("optimize: give model arguments as args=(...) and kwargs={...}")
    return legacy[0], (legacy[1] if len(legacy) > 1 else None)


def _check_actions(actions: Mapping) -> None:
    if not actions:
        raise ValueError("optimize needs at least one Learnable action")
    for key, spec in actions.items():
        if not isinstance(spec, Learnable):
            raise TypeError(f"action {key!r} must be a pce.Learnable, got {type(spec).__name__}")


def _optimizer(optimizer, params: list[torch.Tensor], lr: float | None):
    if callable(optimizer):
        return optimizer(params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=0.05 if lr is None else lr)
    if optimizer == "lbfgs":
        lr = 1.0 if lr is None else lr
        return torch.optim.LBFGS(params, lr=lr, max_iter=20, line_search_fn="strong_wolfe")
    raise ValueError(f"optimizer must be 'adam', 'lbfgs' or a factory, got {optimizer!r}")


def _closure(model, actions, objective, args, kwargs, fixed_actions, opt) -> Callable:
    fixed = dict(fixed_actions or {})

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

    return closure


def _run(opt, closure, params, steps, tol, gtol, patience, bar: Progress):
    """The optimizer loop: ``(losses, converged, grad_norm)``."""
    losses: list[float] = []
    quiet, grad_norm = 0, float("nan")
    for _ in range(steps):
        loss = float(opt.step(closure).detach())
        grad_norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None))
        small = bool(losses) and abs(losses[-1] - loss) <= tol * max(abs(loss), 1.0)
        quiet = quiet + 1 if small else 0
        losses.append(loss)
        bar.update(loss=loss)
        if quiet >= patience or grad_norm <= gtol:
            return losses, True, grad_norm
    return losses, False, grad_norm


def _detached(element: LieGroupElement) -> LieGroupElement:
    if isinstance(element, Scale):
        return Scale(element.factor.detach())
    if isinstance(element, Shift):
        return Shift(element.delta.detach())
    if isinstance(element, Affine):
        return Affine(element.scale.detach(), element.shift.detach())
    return SO(element.matrix.detach(), check=False)
