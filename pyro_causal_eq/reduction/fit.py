"""Fitting a TCR guide: data-driven initialization, then L-BFGS or Adam (through SVI).

:func:`fit` takes a simulator (it simulates the data set), a data set, or a Pyro model
recording the sites ``"i"``, ``"X"``, ``"Y"`` (with ``args=`` / ``kwargs=``), and builds the
guide when none is given (see :mod:`pyro_causal_eq.internals.convention`).

The default is full-batch L-BFGS on the cached per-intervention moments (fast and accurate:
each step costs ``O(I N²)`` for ``n = 1``). ``optimizer="adam"`` runs :class:`pyro.infer.SVI`
with :class:`pyro.optim.Adam` (optionally on random intervention batches,
``TCRLoss(batch_size=...)``).

Initialization (``init``): see :func:`~pyro_causal_eq.reduction.initialization.initialize`
(by default the regression of the per-intervention target means on the low-level means for
``τ``, then the closed-form optimum of every other parameter given ``τ``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyro
import pyro.optim
import torch
from pyro import poutine
from pyro.infer import SVI

from ..internals.convention import Progress, deprecated, seeded
from ..simulators.base import ShiftSimulator
from ..simulators.data import InterventionalData, data_model
from .guide import TCRGuide
from .initialization import initialize
from .loss import TCRLoss


@dataclass(frozen=True)
class TCRResult:
    """Learned maps and high-level model (detached tensors), and the optimization record.

    Returned by :func:`~pyro_causal_eq.reduction.fit`; the tensors are the guide's parameters
    (masked ``τ`` and ``ω``) at the end of the fit.

    :param tau: ``(n, N)`` reduction maps ``τ_k`` (rows of ``T``).
    :param omega: ``(n, D)`` intervention maps ``ω_k`` (rows of ``W``).
    :param mu_z: ``(n,)`` means ``μ_Z`` of the high-level causes.
    :param sigma_z: ``(n,)`` standard deviations ``σ_Z`` of the high-level causes.
    :param a: ``(n,)`` weights of the high-level mechanism ``Y | Z ~ N(aᵀZ + b, σ²_{Y|Z})``.
    :param b: ``()`` intercept of the high-level mechanism.
    :param sigma_y: ``()`` standard deviation ``σ_{Y|Z}`` of the high-level mechanism.
    :param losses: loss values recorded during the fit (one per L-BFGS closure evaluation or
        per Adam step).
    :param converged: whether the stopping rule (``tol``) was met before ``steps``.
    :param steps: optimizer iterations done.
    :param seconds: wall-clock time of the fit, initialization included.
    :param guide: the fitted guide (not part of the comparison or the repr).
    :param data: the data set, when :func:`fit` simulated it or was given it.

    >>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
    >>> scm = pce.simulators.LinearGaussianSCM.random(5, seed=0)
    >>> data = scm.simulate(200, 16, seed=0)
    >>> guide = pce.reduction.TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    >>> result = pce.reduction.fit(data, guide)
    >>> result.tau.shape, result.omega.shape, result.a.shape, result.sigma_y.shape
    (torch.Size([1, 5]), torch.Size([1, 5]), torch.Size([1]), torch.Size([]))
    >>> result.converged, result.losses[-1] < result.losses[0]
    (True, True)
    >>> tau, omega = scm.solution()  # the analytic reduction (Proposition 3.3)
    >>> bool(pce.reduction.abs_cosine(result.omega[0], omega) > 0.99)
    True
    >>> result.to_xarray()["tau"].dims
    ('cause', 'low')
    """

    tau: torch.Tensor
    omega: torch.Tensor
    mu_z: torch.Tensor
    sigma_z: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    sigma_y: torch.Tensor
    losses: tuple[float, ...] = ()
    converged: bool = False
    steps: int = 0
    seconds: float = 0.0
    guide: TCRGuide | None = field(default=None, repr=False, compare=False)
    data: InterventionalData | None = field(default=None, repr=False, compare=False)

    def to_xarray(self):
        """An ``xarray.Dataset`` of the maps (dims ``cause``, ``low``, ``intervention``), the
        high-level model and the ``loss`` per evaluation; ``converged``, ``steps`` and
        ``seconds`` as attributes."""
        import xarray as xr

        dims = {
            "tau": ("cause", "low"),
            "omega": ("cause", "intervention"),
            "mu_z": ("cause",),
            "sigma_z": ("cause",),
            "a": ("cause",),
            "b": (),
            "sigma_y": (),
        }
        data = {k: (d, getattr(self, k).detach().cpu().numpy()) for k, d in dims.items()}
        data["loss"] = ("evaluation", torch.tensor(self.losses, dtype=torch.float64).numpy())
        attrs = {"converged": int(self.converged), "steps": self.steps, "seconds": self.seconds}
        return xr.Dataset(data, attrs=attrs)


def fit(
    model,
    guide: TCRGuide | None = None,
    *legacy_args,
    args: tuple = (),
    kwargs: dict | None = None,
    steps: int | None = None,
    lr: float | None = None,
    seed: int | None = 0,
    progress=False,
    loss: TCRLoss | None = None,
    optimizer: str = "lbfgs",
    tol: float = 1e-8,
    init: str | None = None,
    n_causes: int = 1,
    n_interventions: int = 1000,
    n_samples: int = 32,
    **legacy_kwargs,
) -> TCRResult:
    """Fit a linear TCR of a simulator, a data set, or the data set a Pyro model records.

    :param model: a :class:`~pyro_causal_eq.simulators.base.ShiftSimulator` (``fit``
        simulates ``n_interventions × n_samples`` with ``seed``), an
        :class:`~pyro_causal_eq.simulators.InterventionalData`, or a Pyro model recording sites
        ``"i"``, ``"X"``, ``"Y"`` (e.g. :func:`~pyro_causal_eq.reduction.data_model`).
    :param guide: the :class:`TCRGuide` to fit (updated in place, in the param store); default
        a fresh ``TCRGuide`` with ``n_causes`` causes, sized from the data, with the
        simulator's ``tau_mask`` / ``omega_mask`` when it has them.
    :param legacy_args: deprecated: model arguments given positionally (use ``args=``).
    :param args: positional arguments of the model (e.g. ``(data,)`` for ``data_model``).
    :param kwargs: keyword arguments of the model.
    :param steps: maximum iterations (default 2000 for L-BFGS, 5000 for Adam).
    :param lr: learning rate (default 1 for L-BFGS, 0.01 for Adam).
    :param seed: seed of the simulation, the random guide start and the Adam batches
        (``None``: the global stream, not reseeded).
    :param progress: ``True`` for a tqdm bar, or a tqdm bar to advance.
    :param loss: the :class:`TCRLoss` (default: ``TCRLoss()``).
    :param optimizer: ``"lbfgs"`` (full batch, default) or ``"adam"`` (:class:`pyro.infer.SVI`).
    :param tol: stop when the relative loss change ``|ΔL| / |L|`` falls below ``tol``
        (L-BFGS: over windows of 25 iterations, or when L-BFGS stops itself on a vanishing
        gradient or step; Adam: between means of windows of 100 steps). ``converged`` records
        whether this happened before ``steps``.
    :param init: initialization, see :func:`~pyro_causal_eq.reduction.initialization.initialize`
        (default: the guide's ``init`` for a fresh guide, ``"none"`` for one already
        initialized, loaded from the param store or trained).
    :param n_causes: number of high-level causes of the default guide.
    :param n_interventions: interventions to simulate (simulators only).
    :param n_samples: samples per intervention to simulate (simulators only).
    :param legacy_kwargs: deprecated: keyword model arguments (use ``kwargs=``).

    >>> import pyro_causal_eq as pce
    >>> scm = pce.simulators.LinearGaussianSCM.random(5, seed=0)
    >>> result = fit(scm, n_interventions=500, n_samples=32)  # simulates, builds the guide
    >>> tau, omega = scm.solution()
    >>> bool(pce.reduction.abs_cosine(result.tau[0], tau) > 0.999)
    True
    >>> pyro.clear_param_store()
    >>> guide = pce.reduction.TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    >>> again = fit(result.data, guide)  # a data set (or: fit(data_model, guide, args=(data,)))
    >>> bool(pce.reduction.abs_cosine(again.tau[0], result.tau[0]) > 0.999999)
    True
    """
    if legacy_args or legacy_kwargs:
        deprecated("fit(model, guide, *args, **kwargs)", "fit(model, guide, args=..., kwargs=...)")
        args, kwargs = tuple(legacy_args) + tuple(args), {**legacy_kwargs, **(kwargs or {})}
    loss = TCRLoss() if loss is None else loss
    _check_options(optimizer, loss)
    start = time.perf_counter()
    with seeded(seed):
        source = model
        model, args, data = _resolve_model(model, args, n_interventions, n_samples)
        kwargs = dict(kwargs or {})
        guide = _resolve_guide(guide, source, model, loss, args, kwargs, n_causes)
        _initialize(guide, loss, model, args, kwargs, init)
        steps = (2000 if optimizer == "lbfgs" else 5000) if steps is None else steps
        run = _run_lbfgs if optimizer == "lbfgs" else _run_adam
        with Progress(progress, steps, "TCR fit") as bar:
            losses, converged, done = run(model, guide, loss, args, kwargs, steps, lr, tol, bar)
    params = {key: value.detach().clone() for key, value in guide().items()}
    seconds = time.perf_counter() - start
    return TCRResult(
        **params,
        losses=tuple(losses),
        converged=converged,
        steps=done,
        seconds=seconds,
        guide=guide,
        data=data,
    )


def _check_options(optimizer: str, loss: TCRLoss) -> None:
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if optimizer == "lbfgs" and loss.batch_size is not None:
        raise ValueError("L-BFGS needs the full-batch loss: use TCRLoss(batch_size=None)")


def _resolve_model(model, args: tuple, n_interventions: int, n_samples: int):
    """``(pyro_model, args, data)``: simulate a simulator's data set, wrap a data set."""
    if isinstance(model, ShiftSimulator):
        if args:
            raise TypeError("fit(simulator, ...) simulates its data set: give no args")
        model = model.simulate(n_interventions, n_samples)
    if isinstance(model, InterventionalData):
        if args:
            raise TypeError("fit(data, ...) reads the data set: give no args")
        return data_model, (model,), model
    if not callable(model):
        raise TypeError(
            "fit expects a simulator, an InterventionalData or a Pyro model recording sites "
            f"'i', 'X', 'Y'; got {type(model).__name__}"
        )
    data = args[0] if len(args) == 1 and isinstance(args[0], InterventionalData) else None
    return model, tuple(args), data


def _resolve_guide(guide, source, model, loss, args, kwargs, n_causes: int) -> TCRGuide:
    """The given guide, or a fresh one sized from the data (with a simulator's masks)."""
    if guide is not None:
        return guide
    stats = loss.statistics(model, *args, **kwargs)
    masks = {k: getattr(source, k, None) for k in ("tau_mask", "omega_mask")}
    return TCRGuide(stats.n_low, stats.interventions.shape[-1], n_causes, **masks)


def _initialize(guide, loss, model, args, kwargs, init) -> None:
    if init is None:  # the guide's own init, unless it was initialized / loaded / trained
        init = "none" if getattr(guide, "initialized", False) else getattr(guide, "init", "auto")
    initialize(guide, loss.statistics(model, *args, **kwargs), init, loss.groups)
    guide.initialized = True  # no second initialization by SVI


def _unconstrained_params(loss: TCRLoss, model, guide, args, kwargs) -> list[torch.Tensor]:
    with poutine.trace(param_only=True) as capture:
        loss(model, guide, *args, **kwargs)
    return [site["value"].unconstrained() for site in capture.trace.nodes.values()]


def _run_lbfgs(model, guide, loss, args, kwargs, steps, lr, tol, bar: Progress):
    """Full-batch L-BFGS in windows of 25 iterations: ``(losses, converged, iterations)``."""
    params = _unconstrained_params(loss, model, guide, args, kwargs)
    opt = torch.optim.LBFGS(
        params,
        lr=1.0 if lr is None else lr,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
    losses: list[float] = []

    def closure():
        opt.zero_grad()
        value = loss(model, guide, *args, **kwargs)
        value.backward()
        losses.append(float(value.detach()))
        return value

    converged, done, window, previous = False, 0, 25, None
    while done < steps and not converged:  # L-BFGS keeps its history across the windows
        group = opt.param_groups[0]
        group["max_iter"] = min(window, steps - done)
        group["max_eval"] = 20 * group["max_iter"]
        opt.step(closure)
        before, done = done, opt.state[opt._params[0]].get("n_iter", done)
        with torch.no_grad():  # the last closure call may be a rejected line-search trial
            current = float(loss(model, guide, *args, **kwargs))
        bar.update(done - before, loss=current)
        converged = done - before < group["max_iter"] or (  # L-BFGS stopped by itself
            previous is not None and abs(previous - current) <= tol * max(abs(current), 1e-300)
        )
        previous = current
    return losses, converged, done


def _run_adam(model, guide, loss, args, kwargs, steps, lr, tol, bar: Progress):
    """:class:`pyro.infer.SVI` with Adam, stopped on windows of 100 steps."""
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01 if lr is None else lr}), loss=loss)
    losses: list[float] = []
    window = 100
    for done in range(1, steps + 1):
        losses.append(svi.step(*args, **kwargs))
        bar.update(loss=losses[-1])
        if done % window == 0 and done >= 2 * window:
            new = sum(losses[-window:]) / window
            old = sum(losses[-2 * window : -window]) / window
            if abs(new - old) <= tol * (abs(old) + tol):
                return losses, True, done
    return losses, False, steps
