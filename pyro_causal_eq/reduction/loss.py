"""The TCR objective: Gaussian consistency KL (paper eq. 29) and regularizers (eqs. 9, 18).

For each intervention ``i`` with sample moments (empirical averages over its ``S`` samples,
``1 / S`` as in the paper's App. E.1) ``μ̂_Z = T μ̂_X``, ``Σ̂_Z = T Σ̂_X Tᵀ``, ``ĉ = T Σ̂_XY``,
``μ̂_Y``, ``σ̂²_Y``:

- cause term ``KL(N(μ̂_Z, Σ̂_Z) || N(μ_Z + W i, diag σ_Z²))
  = ½ [Σ_k ((μ_Z,k + ω_kᵀ i − μ̂_Z,k)² + Σ̂_Z,kk) / σ_Z,k² − ln(|Σ̂_Z| / Π_k σ_Z,k²) − n]``;
- mechanism term ``E_{z ~ N(μ̂_Z, Σ̂_Z)} KL(N(m̂(z), v̂) || N(aᵀz + b, σ²_{Y|Z}))`` with
  ``m̂(z) = μ̂_Y + ĉᵀ Σ̂_Z⁻¹ (z − μ̂_Z)``, ``v̂ = σ̂²_Y − ĉᵀ Σ̂_Z⁻¹ ĉ``; in closed form
  ``½ [((aᵀμ̂_Z + b − μ̂_Y)² + (a − β)ᵀ Σ̂_Z (a − β) + v̂) / σ²_{Y|Z} − ln(v̂ / σ²_{Y|Z}) − 1]``,
  ``β = Σ̂_Z⁻¹ ĉ``.

Both come from one Cholesky factor of the joint sample covariance of ``(Z, Y)`` with a relative
diagonal jitter (``C + jitter · diag(C)``): ``ln|Σ̂_Z|`` from its leading block, ``v̂`` from its
last pivot. The consistency loss is the mean over interventions of the two terms; the total is
``L_cons − η_h L_hom + η_g L_group`` with ``L_hom = Σ_k <ω_k/‖ω_k‖, τ_k/‖τ_k‖>`` (eq. 9) and
``L_group = Σ_j (Σ_m ‖τ_j[G_m]‖)² / Σ_m ‖τ_j[G_m]‖² − n`` (eq. 18).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pyro import poutine
from pyro.infer import ELBO

from .data import INTERVENTION_SITE, X_SITE, Y_SITE, InterventionalData
from .guide import PARAM_NAMES
from .initialization import initialize
from .statistics import InterventionStatistics, check_target_not_shifted


def consistency_terms(
    stats: InterventionStatistics, params: dict[str, torch.Tensor], jitter: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-intervention cause and mechanism KL terms, each of shape ``(I,)``.

    :param stats: per-intervention sample moments.
    :param params: ``tau (n, N)``, ``omega (n, D)``, ``mu_z (n,)``, ``sigma_z (n,)``, ``a (n,)``,
        ``b ()``, ``sigma_y ()``.
    :param jitter: relative diagonal jitter of the joint covariance of ``(Z, Y)`` (at least
        ``4 ε`` of the dtype).

    With one cause and ``μ_Z = 0``, ``σ_Z = 1``, the cause term is the closed form
    ``½ [(ωᵀi − μ̂_Z)² + σ̂²_Z − ln σ̂²_Z − 1]`` of each intervention:

    >>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
    >>> scm = pce.simulators.LinearGaussianSCM.chain(3, seed=0)
    >>> stats = scm.simulate(20, 16, seed=0).statistics()
    >>> tau, omega = scm.solution()
    >>> params = {"tau": tau[None], "omega": omega[None], "mu_z": torch.zeros(1),
    ...           "sigma_z": torch.ones(1), "a": torch.ones(1), "b": torch.tensor(0.0),
    ...           "sigma_y": torch.tensor(1.0)}
    >>> cause, mechanism = consistency_terms(stats, params)
    >>> cause.shape, mechanism.shape
    (torch.Size([20]), torch.Size([20]))
    >>> mean_z, cov_z, _ = stats.reduce(params["tau"])
    >>> var_z = cov_z[:, 0, 0]
    >>> closed = 0.5 * ((stats.interventions @ omega - mean_z[:, 0]) ** 2 + var_z - var_z.log() - 1)
    >>> torch.allclose(cause, closed, rtol=1e-4), bool((mechanism >= 0).all())  # KLs are >= 0
    (True, True)
    """
    tau, omega = params["tau"], params["omega"]
    n = tau.shape[0]
    if stats.n_samples < n + 2:
        raise ValueError(
            f"too few samples per intervention: the covariance of (Z, Y) with {n} cause(s) "
            f"needs at least {n + 2} samples per intervention, got {stats.n_samples}"
        )
    if tau.shape[-1] != stats.n_low or omega.shape[-1] != stats.interventions.shape[-1]:
        raise ValueError(
            f"shape mismatch: tau {tuple(tau.shape)} and omega {tuple(omega.shape)} vs data with "
            f"N={stats.n_low} low-level variables and D={stats.interventions.shape[-1]} "
            "intervention dimensions"
        )
    stats = stats.to(tau.dtype)
    mean_z, cov_z, c_hat = stats.reduce(tau)
    joint = torch.cat(
        [
            torch.cat([cov_z, c_hat.unsqueeze(-1)], -1),
            torch.cat([c_hat, stats.var_y.unsqueeze(-1)], -1).unsqueeze(-2),
        ],
        -2,
    )
    diag = joint.diagonal(dim1=-2, dim2=-1)
    if bool((diag.detach() <= 0).any()):
        raise ValueError(
            "a high-level cause Z_k = τ_kᵀX or the target Y has zero sample variance under some "
            "intervention (τ_k vanishes on the data, or the target is constant)"
        )
    jitter = max(jitter, 4 * torch.finfo(joint.dtype).eps)
    joint = joint + torch.diag_embed(jitter * diag)
    chol, info = torch.linalg.cholesky_ex(joint)
    pivots = chol.diagonal(dim1=-2, dim2=-1)
    if bool((info > 0).any()) or bool((pivots[..., n] ** 2 <= 4 * jitter * diag[..., n]).any()):
        raise ValueError(
            "the sample covariance of (Z, Y) is singular for some intervention: Y is (almost) a "
            "linear function of Z (does τ read the target variables? exclude them with "
            "TCRGuide(..., target=...) or tau_mask=...) or the causes are collinear"
        )
    logdet_z = 2 * pivots[..., :n].log().sum(-1)
    v_hat = pivots[..., n] ** 2
    chol_z, row = chol[..., :n, :n], chol[..., n, :n]  # row = L_z⁻¹ ĉ
    var_z = diag[..., :n] * (1 + jitter)
    a, b = params["a"], params["b"]
    sigma_z2, sigma_y2 = params["sigma_z"] ** 2, params["sigma_y"] ** 2

    loc = params["mu_z"] + stats.interventions @ omega.T
    cause = 0.5 * (
        (((loc - mean_z) ** 2 + var_z) / sigma_z2).sum(-1) - logdet_z + sigma_z2.log().sum() - n
    )
    quad = ((chol_z.transpose(-1, -2) @ a.unsqueeze(-1)).squeeze(-1) - row).pow(2).sum(-1)
    bias = mean_z @ a + b - stats.mean_y
    mechanism = 0.5 * ((bias**2 + quad + v_hat) / sigma_y2 - (v_hat / sigma_y2).log() - 1)
    return cause, mechanism


def homogeneity(tau: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """``L_hom = Σ_k <ω_k/‖ω_k‖, τ_k/‖τ_k‖>`` (eq. 9); needs ``D == N``.

    Each cause contributes the cosine of its ``τ_k`` and ``ω_k``: ``1`` when parallel, ``0``
    when orthogonal.

    :param tau: ``(n, N)`` reduction maps.
    :param omega: ``(n, N)`` intervention maps (aligned with ``X``).

    >>> float(homogeneity(torch.tensor([[1.0, 2.0, 0.0]]), torch.tensor([[2.0, 4.0, 0.0]])))
    1.0
    >>> float(homogeneity(torch.eye(2), torch.tensor([[3.0, 0.0], [1.0, 0.0]])))  # 1 + 0
    1.0
    """
    if tau.shape != omega.shape:
        raise ValueError(
            f"the homogeneity regularizer compares τ_k and ω_k entrywise; they must have the same "
            f"shape, got tau {tuple(tau.shape)} and omega {tuple(omega.shape)}"
        )
    return (_unit(tau) * _unit(omega)).sum()


def group_sparsity(tau: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``Σ_j (Σ_m ‖τ_j[G_m]‖)² / Σ_m ‖τ_j[G_m]‖² − n`` (eq. 18).

    :param tau: ``(n, N)``.
    :param groups: ``(M, N)`` membership matrix (1 where variable ``k`` is in group ``m``).

    Zero when every ``τ_j`` lies in a single group, ``M − 1`` when it is spread evenly over
    ``M`` groups:

    >>> groups = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])  # {0, 1}, {2, 3}
    >>> float(group_sparsity(torch.tensor([[1.0, 2.0, 0.0, 0.0]]), groups))
    0.0
    >>> float(group_sparsity(torch.tensor([[1.0, 0.0, 1.0, 0.0]]), groups))
    1.0
    """
    squares = (tau**2) @ groups.to(tau.dtype).T  # (n, M)
    tiny = torch.finfo(tau.dtype).tiny
    norms = squares.clamp_min(tiny).sqrt()
    return (norms.sum(-1) ** 2 / squares.sum(-1).clamp_min(tiny)).sum() - tau.shape[0]


def group_matrix(groups: Sequence[Sequence[int]], n_low: int) -> torch.Tensor:
    """The ``(M, N)`` membership matrix of groups of low-level variable indices."""
    matrix = torch.zeros(len(groups), n_low)
    for m, group in enumerate(groups):
        index = torch.as_tensor(list(group), dtype=torch.long)
        if index.numel() == 0 or bool(((index < 0) | (index >= n_low)).any()):
            raise ValueError(f"group {m} must be a non-empty list of indices in [0, {n_low})")
        matrix[m, index] = 1.0
    return matrix


def _unit(v: torch.Tensor) -> torch.Tensor:
    tiny = torch.finfo(v.dtype).tiny
    return v / (v**2).sum(-1, keepdim=True).clamp_min(tiny).sqrt()


class TCRLoss(ELBO):
    """The TCR loss as a callable ``loss(model, guide, *args, **kwargs)`` for
    :class:`pyro.infer.SVI`.

    Calling the loss returns a differentiable scalar and has no side effect. As a subclass of
    :class:`pyro.infer.ELBO`, SVI uses :meth:`loss_and_grads` for ``step`` (which, at the first
    step, applies the data-driven initialization of a :class:`TCRGuide`, see its ``init``) and
    :meth:`loss` for ``evaluate_loss``.

    The model is traced with ``(*args, **kwargs)``; its sites ``"i"`` ``(I, D)``, ``"X"``
    ``(I, S, N)`` and ``"Y"`` ``(I, S)`` give the data set (see
    :func:`~pyro_causal_eq.reduction.data_model`). The per-intervention moments are cached for
    the last data set seen (keyed by tensor identity and version), so each step of a fixed data
    set only costs the reduction of the cached moments. The guide is called with the same
    arguments and must return a dict of parameters (as :class:`TCRGuide` does). ``model`` may
    also be an :class:`InterventionalData` or :class:`InterventionStatistics` directly.

    :param eta_h: weight of the homogeneity regularizer (eq. 9), subtracted.
    :param eta_g: weight of the group-sparsity regularizer (eq. 18), added.
    :param groups: groups ``G_m`` of low-level variable indices (needed when ``eta_g > 0``).
    :param batch_size: interventions drawn at random (without replacement) per evaluation;
        ``None`` uses all.
    :param jitter: relative diagonal jitter of the joint covariance of ``(Z, Y)``.
    :param sites: names of the intervention, low-level and target sites.
    :param unbiased: normalize the sample covariances by ``S - 1`` (like ``numpy.cov``) instead
        of ``S`` (default: the paper's empirical averages ``⟨·⟩``, ``numpy.cov(bias=True)``).

    Conventions: the value is exactly ``mean_i [cause_i + mechanism_i] − η_h L_hom + η_g
    L_group`` (see the module docstring), i.e. paper eq. 29 with ``E_i`` the mean over the data
    set's (or batch's) interventions, minus the homogeneity bonus of eq. 9, plus eq. 18; the only
    deviation is the relative ``jitter`` on the diagonal of the joint covariance of ``(Z, Y)``
    (``jitter=0`` for the bare formula). :meth:`terms` returns each part.

    >>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
    >>> scm = pce.simulators.LinearGaussianSCM.chain(4, seed=0)
    >>> data = scm.simulate(200, 16, seed=0)
    >>> guide = pce.reduction.TCRGuide(4, tau_mask=scm.tau_mask, omega_mask=scm.omega_mask,
    ...                                init="none")  # keep the random start, to see SVI work
    >>> svi = pyro.infer.SVI(pce.reduction.data_model, guide, pyro.optim.Adam({"lr": 0.05}),
    ...                      loss=TCRLoss())
    >>> losses = [svi.step(data) for _ in range(50)]
    >>> losses[-1] < 0.5 * losses[0]
    True
    """

    def __init__(
        self,
        eta_h: float = 0.0,
        eta_g: float = 0.0,
        groups: Sequence[Sequence[int]] | None = None,
        batch_size: int | None = None,
        jitter: float = 1e-10,
        sites: tuple[str, str, str] = (INTERVENTION_SITE, X_SITE, Y_SITE),
        unbiased: bool = False,
    ):
        if eta_g and groups is None:
            raise ValueError("eta_g > 0 needs the groups of low-level variables (groups=...)")
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if jitter < 0:
            raise ValueError(f"jitter must be non-negative, got {jitter}")
        super().__init__()
        self.eta_h, self.eta_g, self.groups = float(eta_h), float(eta_g), groups
        self.batch_size, self.jitter, self.sites = batch_size, float(jitter), sites
        self.unbiased = bool(unbiased)
        self._cache: tuple | None = None

    def statistics(self, model, *args, **kwargs) -> InterventionStatistics:
        """The per-intervention moments of the data set the model provides (cached)."""
        if isinstance(model, InterventionStatistics):
            return model
        if isinstance(model, InterventionalData):
            values = (model.interventions, model.x, model.y)
        else:
            trace = poutine.trace(model).get_trace(*args, **kwargs)
            missing = [name for name in self.sites if name not in trace.nodes]
            if missing:
                raise KeyError(
                    f"TCRLoss: the model recorded no site(s) {missing}; it must record the "
                    f"interventions, low-level samples and target samples as sites {self.sites} "
                    "(see pyro_causal_eq.reduction.data_model)"
                )
            values = tuple(trace.nodes[name]["value"].detach() for name in self.sites)
        key = tuple((v.data_ptr(), v._version, tuple(v.shape), v.stride()) for v in values)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[2]
        stats = InterventionStatistics.from_samples(*values, unbiased=self.unbiased)
        check_target_not_shifted(stats)
        self._cache = (key, values, stats)  # values kept alive: their storage is not reused
        return stats

    def terms(self, model, guide, *args, **kwargs) -> dict[str, torch.Tensor]:
        """All terms: ``cause``, ``mechanism``, ``consistency``, ``homogeneity``,
        ``group_sparsity`` and ``total`` (scalars)."""
        stats = self.statistics(model, *args, **kwargs)
        target = getattr(guide, "target_mask", None)
        if target is not None and stats.interventions.shape[-1] == target.shape[-1]:
            hit = (stats.interventions[:, target] != 0).any(0)
            if bool(hit.any()):
                raise ValueError(
                    "the target must not be intervened on: the data shift target variable(s) "
                    f"{target.nonzero().flatten()[hit].tolist()}"
                )
        if self.batch_size is not None and self.batch_size < stats.n_interventions:
            index = torch.randperm(stats.n_interventions)[: self.batch_size]
            stats = stats.subset(index)
        params = guide(*args, **kwargs)
        if not isinstance(params, dict) or any(key not in params for key in PARAM_NAMES):
            raise TypeError(f"the guide must return a dict with keys {PARAM_NAMES}")
        cause, mechanism = consistency_terms(stats, params, self.jitter)
        out = {"cause": cause.mean(), "mechanism": mechanism.mean()}
        out["consistency"] = out["cause"] + out["mechanism"]
        total = out["consistency"]
        zero = total.new_zeros(())
        out["homogeneity"] = homogeneity(params["tau"], params["omega"]) if self.eta_h else zero
        out["group_sparsity"] = zero
        if self.groups is not None:
            matrix = group_matrix(self.groups, params["tau"].shape[-1])
            out["group_sparsity"] = group_sparsity(params["tau"], matrix)
        out["total"] = total - self.eta_h * out["homogeneity"] + self.eta_g * out["group_sparsity"]
        return out

    def __call__(self, model, guide, *args, **kwargs) -> torch.Tensor:
        return self.terms(model, guide, *args, **kwargs)["total"]

    def loss(self, model, guide, *args, **kwargs) -> float:
        """The total loss as a float (used by ``SVI.evaluate_loss``)."""
        with torch.no_grad():
            return self(model, guide, *args, **kwargs).item()

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        """Initialize a fresh :class:`TCRGuide` from the data (first step only), evaluate the
        loss and backpropagate (used by ``SVI.step``)."""
        self.initialize_guide(model, guide, *args, **kwargs)
        value = self(model, guide, *args, **kwargs)
        value.backward()
        return value.item()

    def initialize_guide(self, model, guide, *args, **kwargs) -> None:
        """Apply a :class:`TCRGuide`'s data-driven ``init`` once, if its parameters are still
        the construction-time ones."""
        if getattr(guide, "initialized", True) is not False:
            return
        if guide.untouched():
            initialize(guide, self.statistics(model, *args, **kwargs), guide.init, self.groups)
        guide.initialized = True

    def _get_trace(self, model, guide, args, kwargs):
        raise NotImplementedError("TCRLoss reads the data set from the model trace directly")
