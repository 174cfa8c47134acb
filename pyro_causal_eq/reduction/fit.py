"""Fitting a TCR guide: data-driven initialization, then L-BFGS or Adam (through SVI).

The default is full-batch L-BFGS on the cached per-intervention moments (fast and accurate:
each step costs ``O(I N²)`` for ``n = 1``). ``optimizer="adam"`` runs :class:`pyro.infer.SVI`
with :class:`pyro.optim.Adam` (optionally on random intervention batches,
``TCRLoss(batch_size=...)``).

Initialization (``init``): see :func:`~pyro_causal_eq.reduction.initialize` (by default the
regression of the per-intervention target means on the low-level means for ``τ``, then the
closed-form optimum of every other parameter given ``τ``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pyro
import pyro.optim
import torch
from pyro import poutine
from pyro.infer import SVI

from .guide import TCRGuide
from .initialization import initialize
from .loss import TCRLoss


@dataclass
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

    >>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
    >>> scm = pce.simulators.LinearGaussianSCM.random(5, seed=0)
    >>> data = scm.simulate(200, 16, seed=0)
    >>> guide = pce.reduction.TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    >>> result = pce.reduction.fit(pce.reduction.data_model, guide, data)
    >>> result.tau.shape, result.omega.shape, result.a.shape, result.sigma_y.shape
    (torch.Size([1, 5]), torch.Size([1, 5]), torch.Size([1]), torch.Size([]))
    >>> result.converged, result.losses[-1] < result.losses[0]
    (True, True)
    >>> tau, omega = scm.solution()  # the analytic reduction (Proposition 3.3)
    >>> bool(pce.reduction.abs_cosine(result.omega[0], omega) > 0.99)
    True
    """

    tau: torch.Tensor
    omega: torch.Tensor
    mu_z: torch.Tensor
    sigma_z: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    sigma_y: torch.Tensor
    losses: list[float] = field(default_factory=list)
    converged: bool = False
    steps: int = 0
    seconds: float = 0.0


def _unconstrained_params(loss: TCRLoss, model, guide, args, kwargs) -> list[torch.Tensor]:
    with poutine.trace(param_only=True) as capture:
        loss(model, guide, *args, **kwargs)
    return [site["value"].unconstrained() for site in capture.trace.nodes.values()]


def fit(
    model,
    guide: TCRGuide,
    *args,
    loss: TCRLoss | None = None,
    optimizer: str = "lbfgs",
    steps: int | None = None,
    lr: float | None = None,
    tol: float = 1e-8,
    init: str | None = None,
    progress: bool = False,
    **kwargs,
) -> TCRResult:
    """Fit a TCR guide to the data set a model provides.

    :param model: a Pyro model recording sites ``"i"``, ``"X"``, ``"Y"`` (e.g.
        :func:`~pyro_causal_eq.reduction.data_model`), or an ``InterventionalData``.
    :param guide: the :class:`TCRGuide` to fit (updated in place, in the param store).
    :param args: arguments of the model (e.g. the data set).
    :param loss: the :class:`TCRLoss` (default: ``TCRLoss()``).
    :param optimizer: ``"lbfgs"`` (full batch, default) or ``"adam"`` (:class:`pyro.infer.SVI`).
    :param steps: maximum iterations (default 2000 for L-BFGS, 5000 for Adam).
    :param lr: learning rate (default 1 for L-BFGS, 0.01 for Adam).
    :param tol: stop when the relative loss change ``|ΔL| / |L|`` falls below ``tol``
        (L-BFGS: over windows of 25 iterations, or when L-BFGS stops itself on a vanishing
        gradient or step; Adam: between means of windows of 100 steps). ``converged`` records
        whether this happened before ``steps``.
    :param init: initialization, see :func:`~pyro_causal_eq.reduction.initialize` (default:
        the guide's ``init`` for a fresh guide, ``"none"`` for one already initialized, loaded
        from the param store or trained).
    :param progress: show a progress bar (tqdm).

    >>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
    >>> scm = pce.simulators.LinearGaussianSCM.random(5, seed=0)
    >>> data = scm.simulate(500, 32, seed=0)
    >>> guide = pce.reduction.TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask)
    >>> result = fit(pce.reduction.data_model, guide, data)
    >>> tau, omega = scm.solution()
    >>> bool(pce.reduction.abs_cosine(result.tau[0], tau) > 0.999)
    True
    """
    loss = TCRLoss() if loss is None else loss
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
    if optimizer == "lbfgs" and loss.batch_size is not None:
        raise ValueError("L-BFGS needs the full-batch loss: use TCRLoss(batch_size=None)")
    start = time.perf_counter()
    if init is None:  # the guide's own init, unless it was initialized / loaded / trained
        init = "none" if getattr(guide, "initialized", False) else getattr(guide, "init", "auto")
    initialize(guide, loss.statistics(model, *args, **kwargs), init, loss.groups)
    guide.initialized = True  # no second initialization by SVI
    losses: list[float] = []
    converged, done = False, 0
    bar = _progress(progress, steps)
    if optimizer == "lbfgs":
        steps = 2000 if steps is None else steps
        params = _unconstrained_params(loss, model, guide, args, kwargs)
        opt = torch.optim.LBFGS(
            params,
            lr=1.0 if lr is None else lr,
            tolerance_grad=1e-12,
            tolerance_change=1e-14,
            history_size=50,
            line_search_fn="strong_wolfe",
        )

        def closure():
            opt.zero_grad()
            value = loss(model, guide, *args, **kwargs)
            value.backward()
            losses.append(float(value.detach()))
            if bar is not None:
                bar.update(1)
            return value

        window, previous = 25, None  # L-BFGS keeps its history across the windows
        while done < steps and not converged:
            group = opt.param_groups[0]
            group["max_iter"] = min(window, steps - done)
            group["max_eval"] = 20 * group["max_iter"]
            opt.step(closure)
            before, done = done, opt.state[opt._params[0]].get("n_iter", done)
            with torch.no_grad():  # the last closure call may be a rejected line-search trial
                current = float(loss(model, guide, *args, **kwargs))
            converged = done - before < group["max_iter"] or (  # L-BFGS stopped by itself
                previous is not None and abs(previous - current) <= tol * max(abs(current), 1e-300)
            )
            previous = current
    else:
        steps = 5000 if steps is None else steps
        svi = SVI(model, guide, pyro.optim.Adam({"lr": 0.01 if lr is None else lr}), loss=loss)
        window = 100
        for done in range(1, steps + 1):
            losses.append(svi.step(*args, **kwargs))
            if bar is not None:
                bar.update(1)
            if done % window == 0 and done >= 2 * window:
                new = sum(losses[-window:]) / window
                old = sum(losses[-2 * window : -window]) / window
                if abs(new - old) <= tol * (abs(old) + tol):
                    converged = True
                    break
    if bar is not None:
        bar.close()
    p = {key: value.detach().clone() for key, value in guide().items()}
    return TCRResult(
        **p, losses=losses, converged=converged, steps=done, seconds=time.perf_counter() - start
    )


def _progress(enabled: bool, total: int | None):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="TCR fit")
