"""Per-intervention sufficient statistics of a TCR data set.

The Gaussian consistency loss only needs, for every intervention ``i``, the sample moments
``μ̂_X``, ``Σ̂_X``, ``μ̂_Y``, ``σ̂²_Y`` and ``Σ̂_XY = cov(X, Y)``. They are computed once per data
set, so that each optimization step costs ``O(I N²)`` (or ``O(I S N)`` when the number of
low-level variables ``N`` exceeds the number of samples ``S``: then the centred samples are kept
instead of ``Σ̂_X``). Covariances are empirical averages with the ``1 / S`` normalization of the
paper (App. E.1, ``⟨·⟩`` = empirical average; ``numpy.cov(..., bias=True)``); ``unbiased=True``
gives the ``1 / (S - 1)`` normalization of ``numpy.cov`` and ``torch.cov``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class InterventionStatistics:
    """Sample moments of ``X`` and ``Y`` for each of ``I`` interventions.

    :param interventions: ``(I, D)`` shift interventions.
    :param mean_x: ``(I, N)`` sample means of the low-level variables.
    :param mean_y: ``(I,)`` sample means of the target.
    :param var_y: ``(I,)`` sample variances of the target.
    :param cov_xy: ``(I, N)`` sample covariances ``cov(X, Y)``.
    :param cov_x: ``(I, N, N)`` sample covariances of ``X`` (or ``None``).
    :param centered_x: ``(I, S, N)`` centred samples scaled by ``1/sqrt(S)`` (``1/sqrt(S-1)``
        when ``unbiased``) or ``None``;
        exactly one of ``cov_x`` and ``centered_x`` is given.
    :param n_samples: ``S``, the number of samples per intervention.

    >>> x = torch.randn(3, 10, 2, dtype=torch.float64)
    >>> stats = InterventionStatistics.from_samples(torch.zeros(3, 2), x, x[..., 0])
    >>> torch.allclose(stats.cov_x[1], torch.cov(x[1].T, correction=0))
    True
    """

    interventions: torch.Tensor
    mean_x: torch.Tensor
    mean_y: torch.Tensor
    var_y: torch.Tensor
    cov_xy: torch.Tensor
    cov_x: torch.Tensor | None
    centered_x: torch.Tensor | None
    n_samples: int

    @classmethod
    def from_samples(
        cls,
        interventions: torch.Tensor,
        x: torch.Tensor,
        y: torch.Tensor,
        keep_samples: bool | None = None,
        unbiased: bool = False,
    ) -> InterventionStatistics:
        """Moments from samples ``x`` of shape ``(I, S, N)`` and ``y`` of shape ``(I, S)``.

        :param interventions: ``(I, D)`` interventions (one row per group of samples).
        :param x: low-level samples.
        :param y: target samples.
        :param keep_samples: keep centred samples instead of ``Σ̂_X`` (default: when ``N > S``).
        :param unbiased: normalize covariances by ``S - 1`` instead of ``S`` (the paper's
            empirical average, default).
        """
        x, y, interventions = _check_shapes(interventions, x, y)
        n_samples, n_low = x.shape[1], x.shape[2]
        if n_samples < 2:
            raise ValueError(
                f"each intervention needs at least 2 samples to estimate a covariance, got "
                f"{n_samples} sample(s) per intervention"
            )
        norm = (n_samples - 1 if unbiased else n_samples) ** -0.5
        xc = (x - x.mean(1, keepdim=True)) * norm
        yc = (y - y.mean(1, keepdim=True)) * norm
        keep = n_low > n_samples if keep_samples is None else keep_samples
        return cls(
            interventions=interventions,
            mean_x=x.mean(1),
            mean_y=y.mean(1),
            var_y=(yc * yc).sum(1),
            cov_xy=torch.einsum("isn,is->in", xc, yc),
            cov_x=None if keep else xc.transpose(-1, -2) @ xc,
            centered_x=xc if keep else None,
            n_samples=n_samples,
        )

    @property
    def n_interventions(self) -> int:
        return self.mean_x.shape[0]

    @property
    def n_low(self) -> int:
        return self.mean_x.shape[1]

    def subset(self, index: torch.Tensor) -> InterventionStatistics:
        """The statistics of the interventions selected by ``index``."""
        pick = lambda t: None if t is None else t[index]
        return InterventionStatistics(
            interventions=self.interventions[index],
            mean_x=self.mean_x[index],
            mean_y=self.mean_y[index],
            var_y=self.var_y[index],
            cov_xy=self.cov_xy[index],
            cov_x=pick(self.cov_x),
            centered_x=pick(self.centered_x),
            n_samples=self.n_samples,
        )

    def to(self, dtype: torch.dtype) -> InterventionStatistics:
        """The same statistics in another floating-point dtype."""
        if self.mean_x.dtype == dtype:
            return self
        cast = lambda t: None if t is None else t.to(dtype)
        return InterventionStatistics(
            interventions=cast(self.interventions),
            mean_x=cast(self.mean_x),
            mean_y=cast(self.mean_y),
            var_y=cast(self.var_y),
            cov_xy=cast(self.cov_xy),
            cov_x=cast(self.cov_x),
            centered_x=cast(self.centered_x),
            n_samples=self.n_samples,
        )

    def reduce(self, tau: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Moments of ``Z = T X``: ``μ̂_Z (I, n)``, ``Σ̂_Z (I, n, n)`` and ``ĉ = T Σ̂_XY (I, n)``.

        :param tau: ``(n, N)`` reduction matrix ``T`` (rows ``τ_k``).
        """
        mean_z = self.mean_x @ tau.T
        c_hat = self.cov_xy @ tau.T
        if self.cov_x is not None:
            cov_z = tau @ self.cov_x @ tau.T
        else:
            zc = self.centered_x @ tau.T
            cov_z = zc.transpose(-1, -2) @ zc
        return mean_z, cov_z, c_hat


def check_target_not_shifted(stats: InterventionStatistics, max_interventions: int = 64) -> None:
    """Raise when the target ``Y`` is an exact linear function ``τ₀ᵀX`` of the low-level
    variables and the interventions (aligned with ``X``, ``D == N``) shift its support.

    ``τ₀`` is recovered by regressing ``Y`` on ``X`` with the within-intervention covariance
    pooled over (at most ``max_interventions``) interventions; the check is skipped when that
    covariance is (nearly) singular, so ``τ₀`` is not identified, or when ``Y`` has noise of its
    own.

    :param stats: per-intervention moments.
    :param max_interventions: interventions used for the pooled covariance.
    """
    if stats.interventions.shape[-1] != stats.n_low:
        return
    sub = stats.subset(slice(0, max_interventions))
    if sub.cov_x is not None:
        cov = sub.cov_x.mean(0)
    else:
        cov = torch.einsum("isn,ism->nm", sub.centered_x, sub.centered_x) / sub.n_interventions
    cxy, var_y = sub.cov_xy.mean(0), sub.var_y.mean()
    sd = cov.diagonal().clamp_min(torch.finfo(cov.dtype).tiny).sqrt()
    corr = cov / (sd.unsqueeze(-1) * sd)
    eps = 1e3 * torch.finfo(cov.dtype).eps
    if not bool(var_y > 0) or float(torch.linalg.eigvalsh(corr)[0]) < 1e-6:
        return
    beta = torch.linalg.solve(corr, cxy / sd)  # coefficients of the standardized X
    if float(var_y - (cxy / sd) @ beta) > eps * float(var_y):
        return  # Y is not an exact linear function of X
    support = beta.abs() > 1e-6 * beta.abs().max()
    shifted = (stats.interventions != 0).any(0) & support
    if bool(shifted.any()):
        raise ValueError(
            "the target must not be intervened on: the target Y is a linear function of X that "
            f"reads variable(s) {shifted.nonzero().flatten().tolist()}, which the data shift"
        )


def _check_shapes(interventions, x, y):
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError("x and y must be tensors")
    if x.dim() != 3:
        raise ValueError(
            f"x must have shape (interventions, samples, low-level variables), got {tuple(x.shape)}"
        )
    if y.shape != x.shape[:2]:
        raise ValueError(
            f"y must have shape (interventions, samples) = {tuple(x.shape[:2])}, got "
            f"{tuple(y.shape)}"
        )
    interventions = torch.as_tensor(interventions, dtype=x.dtype, device=x.device)
    if interventions.dim() != 2 or interventions.shape[0] != x.shape[0]:
        raise ValueError(
            f"interventions must have shape ({x.shape[0]}, D) (one row per intervention), got "
            f"{tuple(interventions.shape)}"
        )
    for name, value in (("x", x), ("y", y), ("interventions", interventions)):
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    return x, y.to(x.dtype), interventions
