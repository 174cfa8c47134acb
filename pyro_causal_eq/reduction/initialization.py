"""Data-driven initialization of a :class:`TCRGuide` from per-intervention moments."""

from __future__ import annotations

import torch
from pyro.distributions.transforms import biject_to

from .guide import TCRGuide
from .statistics import InterventionStatistics


def _assign(guide: TCRGuide, name: str, value: torch.Tensor) -> None:
    getattr(guide, name)  # sync the module with the param store
    constraint = guide._pyro_params[name][0]
    unconstrained = getattr(guide, name + "_unconstrained")
    with torch.no_grad():
        unconstrained.copy_(biject_to(constraint).inv(value.to(unconstrained.dtype)))


def _lstsq(design: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    ones = torch.ones_like(design[:, :1])
    return torch.linalg.lstsq(torch.cat([ones, design], -1), target.unsqueeze(-1)).solution[:, 0]


@torch.no_grad()
def initialize(
    guide: TCRGuide, stats: InterventionStatistics, init: str = "auto", groups=None
) -> None:
    """Data-driven initialization of the guide's parameters.

    ``"regression"`` sets ``τ`` (see below for several causes) to the least-squares regression of
    the per-intervention target means ``μ̂_Y`` on ``μ̂_X`` over the allowed variables; then every
    other parameter is set to its closed-form optimum given ``τ`` (``μ_Z, ω`` by least squares
    of ``μ̂_Z`` on ``i``; ``σ_Z², a, b, σ²_{Y|Z}`` from the normal equations of the KL terms).
    ``"profile"`` does the latter only (keeps ``τ``); ``"auto"`` is ``"regression"``; ``"none"``
    does nothing. With several causes, only the first is regressed and the others keep their
    random start, unless ``groups`` (at least one per cause) are given: then the regression of
    cause ``k`` uses only the variables of group ``k``, so that causes start on different groups.

    :param guide: the guide (its parameters are overwritten in place).
    :param stats: per-intervention moments of the data set.
    :param init: ``"auto"``, ``"regression"``, ``"profile"`` or ``"none"``.
    :param groups: optional groups of low-level variable indices (see :class:`TCRLoss`).

    >>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
    >>> scm = pce.simulators.LinearGaussianSCM.random(5, seed=0)
    >>> data = scm.simulate(200, 16, seed=0)
    >>> guide = pce.reduction.TCRGuide(5, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask,
    ...                                init="none")  # random start
    >>> initialize(guide, data.statistics())  # already close to the analytic reduction
    >>> tau, omega = scm.solution()
    >>> cosine = pce.reduction.abs_cosine
    >>> bool(cosine(guide.T[0], tau) > 0.99), bool(cosine(guide.W[0], omega) > 0.99)
    (True, True)
    """
    if init not in ("auto", "regression", "profile", "none"):
        raise ValueError(f"unknown init {init!r}")
    if init == "none":
        return
    stats = stats.to(guide.tau.dtype)
    grouped = groups is not None and len(groups) >= guide.n_causes
    if init in ("regression", "auto"):  # identical; one regression per group, else cause 0
        tau = guide.tau.detach().clone()
        for k in range(guide.n_causes if grouped else 1):
            tau[k] = 0.0
            mask = guide.tau_mask[k].clone()
            if grouped:
                in_group = torch.zeros_like(mask)
                in_group[list(groups[k])] = True
                mask = mask & in_group if bool((mask & in_group).any()) else mask
            tau[k, mask] = _lstsq(stats.mean_x[:, mask], stats.mean_y)[1:]
        if bool((tau.abs().sum(-1) > 0).all()):
            _assign(guide, "tau", tau)
    T = guide.T
    mean_z, cov_z, c_hat = stats.reduce(T)
    omega, mu_z, var_z = torch.zeros_like(guide.omega), torch.zeros_like(guide.mu_z), []
    for k in range(guide.n_causes):
        mask = guide.omega_mask[k]
        coef = _lstsq(stats.interventions[:, mask], mean_z[:, k])
        mu_z[k], omega[k, mask] = coef[0], coef[1:]
        residual = mean_z[:, k] - coef[0] - stats.interventions[:, mask] @ coef[1:]
        var_z.append((residual**2 + cov_z[:, k, k]).mean())
    n = guide.n_causes
    moment = (mean_z.unsqueeze(-1) * mean_z.unsqueeze(-2) + cov_z).mean(0)
    normal = torch.zeros(n + 1, n + 1, dtype=T.dtype)
    normal[:n, :n], normal[:n, n], normal[n, :n], normal[n, n] = (
        moment,
        mean_z.mean(0),
        mean_z.mean(0),
        1.0,
    )
    rhs = torch.cat(
        [(mean_z * stats.mean_y.unsqueeze(-1) + c_hat).mean(0), stats.mean_y.mean()[None]]
    )
    ab = torch.linalg.lstsq(normal, rhs.unsqueeze(-1)).solution[:, 0]
    a, b = ab[:n], ab[n]
    bias = mean_z @ a + b - stats.mean_y
    quad = torch.einsum("k,ikl,l->i", a, cov_z, a) - 2 * c_hat @ a + stats.var_y
    tiny = torch.finfo(T.dtype).tiny
    for name, value in (
        ("omega", omega),
        ("mu_z", mu_z),
        ("sigma_z", torch.stack(var_z).clamp_min(tiny).sqrt()),
        ("a", a),
        ("b", b),
        ("sigma_y", (bias**2 + quad).mean().clamp_min(tiny).sqrt()),
    ):
        _assign(guide, name, value)
