"""The Euler scheme of a system of point masses under external forces (paper App. A.2).

``K`` masses in the plane, coupled by linear springs (internal forces ``g_k``, summing to
zero), with viscous friction ``λ``. Euler scheme (``ρ = 1 − Δt λ``), for ``n = 0 … N−1``:

``m_k v_k[n+1] = ρ m_k v_k[n] + Δt g_k(n) + Δt f_k(n)`` (+ intrinsic noise),
``p_k[n+1] = p_k[n] + Δt v_k[n]``.

The velocity ``v[n+1]`` of every step is the sample site ``"v{n+1}"`` (shape ``(K, 2)``); an
external force ``f(n)`` for ``n ≤ n_f`` is a shift intervention
``pce.do(actions={"v{n+1}": pce.Shift(Δt f(n) / m)})``. The target is the final horizontal
velocity of the centre of mass ``Y = Σ_k m_k v_{x,k}[N] / Σ_k m_k``.

Low-level variables ``X``: the velocities ``v[1 … n_f+1]`` (flattened step, mass, axis).
Interventions ``i``: the forces ``f(0 … n_f)`` (same layout). Exact reduction: total horizontal
momentum right after the last force, ``τ = m_k`` on ``v_{x,k}[n_f+1]``, and the summed
horizontal forces discounted by friction, ``ω = Δt ρ^{n_f − n}`` on ``f_{x,k}(n)``
(:meth:`PointMasses.exact_reduction`).

>>> import pyro_causal_eq.simulators as sims
>>> system = sims.PointMasses(n_masses=3, n_steps=12, n_forced=5)
>>> data = system.simulate(n_interventions=8, n_samples=4, seed=0)
>>> data.x.shape, data.interventions.shape
(torch.Size([8, 4, 30]), torch.Size([8, 30]))
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from ..groups import Shift
from .base import ShiftSimulator


class PointMasses(ShiftSimulator):
    """Point masses with springs, friction, external forces as shift interventions.

    :param n_masses: ``K``.
    :param n_steps: ``N`` Euler steps.
    :param n_forced: number of forced steps ``n_f + 1`` (forces ``f(0 … n_f)``).
    :param dt: ``Δt``.
    :param friction: ``λ``.
    :param stiffness: spring constant between every pair of masses.
    :param masses: ``(K,)`` masses (default ``1, 2, …, K``).
    :param noise_scale: intrinsic velocity noise per step.
    :param init_scale: standard deviation of the initial positions and velocities.
    :param force_scale: standard deviation of the external forces. The default 10 makes the
        velocity kicks ``Δt f / m`` comparable to the spread of the initial velocities
        (``init_scale``); with much weaker forces (e.g. 1) the interventional signal drowns in
        that spread and the exact reduction is poorly identified from 1,000 × 32 samples.

    Starting at rest (almost) without noise, the exact reduction holds sample by sample:
    ``τᵀX`` (total horizontal momentum) equals ``ωᵀi`` (discounted summed forces).

    >>> system = PointMasses(n_masses=3, n_steps=12, n_forced=5, init_scale=1e-6,
    ...                      noise_scale=1e-6)
    >>> data = system.simulate(n_interventions=4, n_samples=2, seed=0)
    >>> data.x.shape, data.interventions.shape  # 5 forced steps x 3 masses x 2 axes
    (torch.Size([4, 2, 30]), torch.Size([4, 30]))
    >>> tau, omega = system.exact_reduction()
    >>> torch.allclose(data.x @ tau, (data.interventions @ omega)[:, None], atol=1e-3)
    True
    """

    def __init__(
        self,
        n_masses: int = 3,
        n_steps: int = 20,
        n_forced: int = 10,
        dt: float = 0.1,
        friction: float = 0.5,
        stiffness: float = 1.0,
        masses=None,
        noise_scale: float = 0.05,
        init_scale: float = 1.0,
        force_scale: float = 10.0,
    ):
        if not 1 <= n_forced < n_steps:
            raise ValueError(f"need 1 <= n_forced < n_steps, got {n_forced}, {n_steps}")
        dtype = torch.get_default_dtype()
        self.masses = (
            torch.arange(1, n_masses + 1, dtype=dtype)
            if masses is None
            else torch.as_tensor(masses, dtype=dtype)
        )
        if self.masses.shape != (n_masses,) or bool((self.masses <= 0).any()):
            raise ValueError(f"masses must be {n_masses} positive numbers")
        self.n_masses, self.n_steps, self.n_forced, self.dt = n_masses, n_steps, n_forced, dt
        self.friction, self.stiffness, self.noise_scale = friction, stiffness, noise_scale
        self.init_scale, self.force_scale = init_scale, force_scale

    @property
    def n_low(self) -> int:
        return self.n_forced * self.n_masses * 2

    def _internal(self, p: torch.Tensor) -> torch.Tensor:
        # linear springs between every pair: g_k = κ Σ_j (p_j − p_k); Σ_k g_k = 0
        return self.stiffness * (p.sum(-2, keepdim=True) - self.n_masses * p)

    def model(self) -> torch.Tensor:
        """The Euler scheme as a Pyro model; returns the final centre-of-mass x-velocity and
        records ``X`` as the deterministic site ``"X"``."""
        shape = (self.n_masses, 2)
        zeros = torch.zeros(shape, dtype=self.masses.dtype)
        p = pyro.sample("p0", dist.Normal(zeros, self.init_scale).to_event(2))
        v = pyro.sample("v0", dist.Normal(zeros, self.init_scale).to_event(2))
        rho, m = 1 - self.dt * self.friction, self.masses.unsqueeze(-1)
        recorded = []
        for n in range(self.n_steps):
            loc = rho * v + self.dt * self._internal(p) / m
            p = p + self.dt * v
            v = pyro.sample(f"v{n + 1}", dist.Normal(loc, self.noise_scale).to_event(2))
            if n < self.n_forced:
                recorded.append(v)
        x = torch.stack(recorded, -3).flatten(-3)
        pyro.deterministic("X", x, event_dim=1)
        return (self.masses * v[..., 0]).sum(-1) / self.masses.sum()

    def sample_interventions(self, n_interventions: int) -> torch.Tensor:
        """``(I, n_forced · K · 2)`` external forces."""
        return self.force_scale * torch.randn(n_interventions, self.n_low)

    def shift_actions(self, interventions: torch.Tensor) -> dict:
        """The forces as velocity kicks ``{"v{n+1}": pce.Shift(Δt f(n) / m)}``."""
        forces = interventions.reshape(-1, 1, self.n_forced, self.n_masses, 2)
        m = self.masses.unsqueeze(-1)
        return {
            f"v{n + 1}": Shift(self.dt * forces[..., n, :, :] / m) for n in range(self.n_forced)
        }

    def observables(self, trace) -> tuple[torch.Tensor, torch.Tensor]:
        """``X`` from the site ``"X"``; ``Y`` is the model's return value."""
        return trace.nodes["X"]["value"], trace.nodes["_RETURN"]["value"]

    def exact_reduction(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(τ, ω)`` of the exact reduction (see the module docstring)."""
        layout = (self.n_forced, self.n_masses, 2)
        tau = torch.zeros(layout, dtype=self.masses.dtype)
        tau[-1, :, 0] = self.masses
        rho = 1 - self.dt * self.friction
        omega = torch.zeros(layout, dtype=self.masses.dtype)
        powers = rho ** torch.arange(self.n_forced - 1, -1, -1, dtype=self.masses.dtype)
        omega[:, :, 0] = self.dt * powers.unsqueeze(-1)
        return tau.flatten(), omega.flatten()
