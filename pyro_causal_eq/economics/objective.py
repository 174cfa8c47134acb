"""The trade-off objective ``cᵀx(α) + λ ||e(α) - e*||`` (L1 as in the paper, relative, L2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .io_model import IOModel

PENALTIES = ("l1", "relative", "l2")


@dataclass
class TradeoffObjective:
    """Weights of the objective ``w_cᵀx + λ Σ_i w_i |x_i - x*_i|`` (or squared for ``l2``).

    ``l1`` (paper eq. 5): ``w_c = c`` (GHG intensities), ``w = |ε|`` (employment
    intensities, so that ``w_i |x_i - x*_i| = |e_i - e*_i|``). ``relative``: both terms
    divided by their baseline totals (``GHG*`` and ``Σ|e*|``), so ``λ`` is unit-free.
    ``l2``: ``cᵀx + λ Σ (e_i - e*_i)²``.

    :param io: the model.
    :param ghg: GHG indicator name.
    :param social: socio-economic indicator name (employment, value added).
    :param penalty: ``"l1"``, ``"relative"`` or ``"l2"``.

    >>> from pyro_causal_eq.economics import IOModel
    >>> io = IOModel([[0.2]], [8.0], [[2.0], [0.5]], indicators=["GHG", "JOBS"])
    >>> objective = TradeoffObjective(io, "GHG", "JOBS")
    >>> objective.x0, objective.value(objective.x0 / 2, lam=4.0)  # 2·5 + 4·0.5·5
    (array([10.]), 20.0)
    """

    io: IOModel
    ghg: str
    social: str
    penalty: str = "l1"

    def __post_init__(self):
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {self.penalty!r}")
        self.c = self.io.intensity(self.ghg)
        self.eps = self.io.intensity(self.social)
        self.x0 = self.io.equilibrium()
        self.ghg0 = float(self.c @ self.x0)
        self.e0 = self.eps * self.x0
        self.social0 = float(self.e0.sum())
        if self.penalty == "relative":
            g, s = abs(self.ghg0), float(np.abs(self.e0).sum())
            if g == 0 or s == 0:
                raise ValueError("relative penalty needs nonzero baseline GHG and social totals")
            self.w_c, self.w = self.c / g, np.abs(self.eps) / s
        else:
            self.w_c, self.w = self.c, np.abs(self.eps)

    @property
    def is_linear_program(self) -> bool:
        """Whether the exact (LP) solver applies (L1 penalties)."""
        return self.penalty in ("l1", "relative")

    def value(self, x: np.ndarray, lam: float) -> float:
        """The objective at outputs ``x`` (numpy)."""
        r = x - self.x0
        if self.penalty == "l2":
            return float(self.w_c @ x + lam * ((self.eps * r) ** 2).sum())
        return float(self.w_c @ x + lam * (self.w * np.abs(r)).sum())

    def torch_value(self, x: torch.Tensor, lam: float, smoothing: float = 0.0) -> torch.Tensor:
        """The objective at outputs ``x`` (torch, batched); ``smoothing > 0`` replaces
        ``|r|`` by ``sqrt(r² + μ²) - μ`` with ``μ = smoothing · |x*|`` per sector."""
        w_c = torch.as_tensor(self.w_c, dtype=x.dtype)
        x0 = torch.as_tensor(self.x0, dtype=x.dtype)
        r = x - x0
        if self.penalty == "l2":
            eps = torch.as_tensor(self.eps, dtype=x.dtype)
            return x @ w_c + lam * ((eps * r) ** 2).sum(-1)
        w = torch.as_tensor(self.w, dtype=x.dtype)
        if smoothing > 0:
            mu = smoothing * x0.abs().clamp_min(1e-12 * float(x0.abs().max()))
            absr = torch.sqrt(r**2 + mu**2) - mu
        else:
            absr = r.abs()
        return x @ w_c + lam * (w * absr).sum(-1)

    def default_lambdas(self, num: int = 12) -> np.ndarray:
        """``num`` values log-spaced over the range where the trade-off moves: from the 10th
        percentile to the maximum of the per-sector ratios ``w_c,i / w_i``."""
        mask = self.w > 0
        ratio = np.abs(self.w_c[mask]) / self.w[mask]
        ratio = ratio[ratio > 0]
        if ratio.size == 0:
            return np.logspace(-3, 3, num)
        lo, hi = np.percentile(ratio, 10), ratio.max()
        if self.penalty == "l2":  # λ multiplies squares: rescale by the typical deviation
            lo, hi = (
                lo / max(np.abs(self.e0).max(), 1e-300),
                hi / max(np.abs(self.e0).min(), 1e-300),
            )
        return np.logspace(np.log10(lo), np.log10(max(hi, lo * 10)), num)

    def stationarity(
        self, alpha: np.ndarray, lam: float, bounds=(0.0, 2.0), tie_tol: float = 1e-5
    ) -> float:
        """Relative first-order (Frank-Wolfe) gap at ``α``: ``0`` at a KKT point.

        The (sub)gradient of the objective in ``α`` is ``g = Jᵀ(w_c + λ w ⊙ σ)`` with
        ``J = dx/dα = (I - diag(α)A)⁻¹ diag(z)``, ``σ_i = sign(x_i - x*_i)``, and ``σ_i`` free in
        ``[-1, 1]`` where ``|x_i - x*_i| <= tie_tol |x*_i|`` (chosen by bounded least squares
        to cancel ``g`` on the interior of the box). The measure is the largest first-order
        decrease within the box, ``Σ_i max(g_i (α_i - lo), g_i (α_i - hi), 0)``, divided by
        ``|objective|`` (assignment interventions).
        """
        from scipy.optimize import lsq_linear

        lo, hi = bounds
        A, n = self.io.A, self.io.n
        alpha = np.asarray(alpha, dtype=np.float64)
        x = self.io.equilibrium(alpha)
        z = A @ x + self.io.y
        J = np.linalg.solve(np.eye(n) - alpha[:, None] * A, np.diag(z))
        r = x - self.x0
        g = J.T @ self.w_c
        if self.penalty == "l2":
            g = g + lam * J.T @ (2 * self.eps**2 * r)
        else:
            scale = np.abs(self.x0)
            tie = np.abs(r) <= tie_tol * scale + 1e-12 * scale.max()
            g = g + lam * J.T @ (self.w * np.sign(r) * ~tie)
            interior = (alpha > lo + 1e-7 * (hi - lo)) & (alpha < hi - 1e-7 * (hi - lo))
            if tie.any() and interior.any():
                M = lam * J.T[:, tie] * self.w[tie]
                fit = lsq_linear(M[interior], -g[interior], bounds=(-1.0, 1.0), method="bvls")
                g = g + M @ fit.x
        decrease = np.maximum(np.maximum(g * (alpha - lo), g * (alpha - hi)), 0.0).sum()
        return float(decrease / max(abs(self.value(x, lam)), 1e-300))
