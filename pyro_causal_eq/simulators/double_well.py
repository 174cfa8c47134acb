"""A ball in the double-well potential ``V(x) = x⁴ − 4x²`` with friction (paper App. F.1).

``m ẍ + k ẋ + V'(x) = 0`` is integrated on a grid of 101 points on ``[0, 40]`` (RK4 with
``substeps`` per grid interval, vectorized over all paths). At each grid time ``t_j``
(``j ≥ 1``) the velocity receives intrinsic noise ``N(0, 0.2²)`` — it is the sample site
``"v{j}"`` — and a shift intervention ``Δv(t_j) ~ N(0, 0.5²)`` applied with
``pce.do(actions={"v{j}": pce.Shift(Δv_j)})``. The initial condition is
``x(0) = −2.07414285 + 5·10⁻⁷ ε``, ``ε ~ U(−1, 1)``, ``v(0) = 11``.

The paper does not state ``m`` and ``k``; we take ``m = 1`` and ``k = 1.4529``, for which the
noise-free trajectory from ``x(0) = −2.07414285`` lies (to four digits) on the separatrix
between the two wells, so that without intervention the ball ends in either well.

Low-level variables ``X`` (``N = 202``): positions ``x(t_0..t_100)`` then velocities
``v(t_0..t_100)``; target ``Y = x(t_100)``; interventions are aligned with ``X`` (zero on
positions and on ``v(t_0)``), so the homogeneity regularizer applies.

Identifiability: neighbouring grid values are nearly collinear (``x(t+Δ) ≈ x(t) + Δ v(t)``), so
the consistency loss is almost flat along many directions of ``τ``. A fit keeps lowering the
loss slowly for thousands of L-BFGS iterations (≈ 1 % between iterations 400 and 800 on
1,000 × 64 paths); ``ω`` is stable meanwhile (``|cos|`` 0.998) but ``τ`` is not (0.86), so read
``τ`` through where it concentrates in time, and budget the fit with ``steps``.

>>> import pyro_causal_eq.simulators as sims
>>> well = sims.DoubleWell()
>>> data = well.simulate(n_interventions=4, n_samples=3, seed=0)
>>> data.x.shape, data.y.shape, data.interventions.shape
(torch.Size([4, 3, 202]), torch.Size([4, 3]), torch.Size([4, 202]))
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from ..groups import Shift
from .base import ShiftSimulator


class DoubleWell(ShiftSimulator):
    """The double-well simulator as a Pyro model with velocity shift interventions.

    :param mass: ``m``.
    :param friction: ``k``.
    :param n_points: grid points (including ``t = 0``).
    :param t_end: final time.
    :param substeps: RK4 steps per grid interval.
    :param x0: initial position (before the jitter).
    :param x0_jitter: half-width of the uniform jitter of the initial position.
    :param v0: initial velocity.
    :param shift_scale: standard deviation of the velocity shifts.
    :param noise_scale: standard deviation of the intrinsic velocity noise.

    >>> well = DoubleWell(n_points=11, t_end=4.0)  # a short, coarse grid
    >>> data = well.simulate(n_interventions=2, n_samples=3, seed=0)
    >>> data.x.shape, int(well.omega_mask.sum())  # X = (x(t_0..t_10), v(t_0..t_10))
    (torch.Size([2, 3, 22]), 10)
    >>> bool((data.y == data.x[..., well.target_index]).all())  # Y = x(t_end)
    True
    >>> x, v = well.flow(torch.tensor(2.0**0.5), torch.tensor(0.0), 1.0)  # at rest in a well
    >>> abs(float(x) - 2.0**0.5) < 1e-5, abs(float(v)) < 1e-5
    (True, True)
    """

    def __init__(
        self,
        mass: float = 1.0,
        friction: float = 1.4529,
        n_points: int = 101,
        t_end: float = 40.0,
        substeps: int = 8,
        x0: float = -2.07414285,
        x0_jitter: float = 5e-7,
        v0: float = 11.0,
        shift_scale: float = 0.5,
        noise_scale: float = 0.2,
    ):
        if mass <= 0 or friction < 0 or n_points < 2 or substeps < 1 or noise_scale <= 0:
            raise ValueError(
                "need mass > 0, friction >= 0, n_points >= 2, substeps >= 1, noise > 0"
            )
        self.mass, self.friction, self.n_points, self.t_end = mass, friction, n_points, t_end
        self.substeps, self.x0, self.x0_jitter, self.v0 = substeps, x0, x0_jitter, v0
        self.shift_scale, self.noise_scale = shift_scale, noise_scale
        self.times = torch.linspace(0.0, t_end, n_points)

    @property
    def n_low(self) -> int:
        return 2 * self.n_points

    @property
    def target_index(self) -> int:
        return self.n_points - 1

    @property
    def tau_mask(self) -> torch.Tensor:
        """All variables except the target and the (almost) constant ``x(t_0)``, ``x(t_1)``
        (no noise reaches it yet) and ``v(t_0)``."""
        mask = torch.ones(self.n_low, dtype=torch.bool)
        mask[[self.target_index, 0, 1, self.n_points]] = False
        return mask

    @property
    def omega_mask(self) -> torch.Tensor:
        """The shifted velocities ``v(t_1..t_{end})``."""
        mask = torch.zeros(self.n_low, dtype=torch.bool)
        mask[self.n_points + 1 :] = True
        return mask

    def _acceleration(self, x, v):
        return -(self.friction * v + 4 * x**3 - 8 * x) / self.mass

    def flow(self, x: torch.Tensor, v: torch.Tensor, duration: float):
        """Integrate the noise-free ODE for ``duration`` (RK4, ``substeps`` steps)."""
        h = duration / self.substeps
        for _ in range(self.substeps):
            k1x, k1v = v, self._acceleration(x, v)
            k2x, k2v = v + 0.5 * h * k1v, self._acceleration(x + 0.5 * h * k1x, v + 0.5 * h * k1v)
            k3x, k3v = v + 0.5 * h * k2v, self._acceleration(x + 0.5 * h * k2x, v + 0.5 * h * k2v)
            k4x, k4v = v + h * k3v, self._acceleration(x + h * k3x, v + h * k3v)
            x = x + h / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
            v = v + h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        return x, v

    def model(self) -> torch.Tensor:
        """The simulator as a Pyro model (sites ``"eps_x"``, ``"v1"`` … ``"v{n-1}"``);
        returns ``X`` (positions then velocities on the grid)."""
        dtype = torch.get_default_dtype()
        eps = pyro.sample("eps_x", dist.Uniform(-torch.ones((), dtype=dtype), 1.0))
        x = self.x0 + self.x0_jitter * eps
        v = torch.full_like(x, self.v0)
        xs, vs = [x], [v]
        step = self.t_end / (self.n_points - 1)
        for j in range(1, self.n_points):
            x, v = self.flow(x, v, step)
            v = pyro.sample(f"v{j}", dist.Normal(v, self.noise_scale))
            xs.append(x)
            vs.append(v)
        return torch.stack(torch.broadcast_tensors(*xs, *vs), -1)

    def sample_interventions(self, n_interventions: int) -> torch.Tensor:
        """``(I, 2 n_points)`` shifts, non-zero on ``v(t_1..t_end)`` only."""
        i = torch.zeros(n_interventions, self.n_low)
        i[:, self.n_points + 1 :] = self.shift_scale * torch.randn(
            n_interventions, self.n_points - 1
        )
        return i

    def shift_actions(self, interventions: torch.Tensor) -> dict:
        """``{"v{j}": pce.Shift(Δv_j)}`` for ``j = 1 … n_points − 1``."""
        offset = self.n_points
        return {
            f"v{j}": Shift(interventions[:, offset + j : offset + j + 1])
            for j in range(1, self.n_points)
        }

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """``Y = x(t_end)``."""
        return x[..., self.target_index]
