"""An input-output (Leontief) economy at equilibrium as a TCR low-level model.

Final demand ``y ~ N(y₀, diag s²)`` (sample site ``"y"``, shifted by
``pce.do(actions={"y": pce.Shift(i)})``), gross output at the equilibrium
``x = A x + y`` solved by :func:`pyro_causal_eq.equilibrate`, and total emissions
``ghg ~ N(rᵀ x, σ_e²)`` (the target). Low-level variables ``X = (y, x)``; interventions act on
the demand block. The exact reduction is the vector of total (direct + indirect) emission
multipliers ``τ_y = ω_y = (I − A)⁻ᵀ r`` on the demand block, which
:meth:`LeontiefEconomy.solution` computes with
:func:`~pyro_causal_eq.simulators.linear_gaussian_solution`.

>>> import pyro_causal_eq.simulators as sims
>>> economy = sims.LeontiefEconomy(torch.tensor([[0.1, 0.2], [0.3, 0.1]]), torch.tensor([1., 2.]))
>>> data = economy.simulate(n_interventions=5, n_samples=4, seed=0)
>>> data.x.shape
torch.Size([5, 4, 4])
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch

from ..groups import Shift
from ..ops import equilibrate
from .analytic import linear_gaussian_solution
from .base import ShiftSimulator


class LeontiefEconomy(ShiftSimulator):
    """Leontief economy with random final demand, shifts on demand, total emissions as target.

    :param A: ``(n, n)`` technical coefficients (spectral radius < 1).
    :param emissions: ``(n,)`` direct emission intensities ``r``.
    :param demand: ``(n,)`` mean final demand ``y₀`` (default ones).
    :param demand_scale: standard deviation of the demand (scalar or ``(n,)``).
    :param emission_noise: standard deviation of the measured total emissions (positive:
        without it ``ghg`` is an exact linear function of the demand, so the consistent
        reduction predicts it without residual and the covariance of ``(Z, Y)`` is singular).
    :param intervention_scale: standard deviation of the demand shifts.

    >>> A = torch.tensor([[0.1, 0.2], [0.3, 0.1]])
    >>> economy = LeontiefEconomy(A, emissions=torch.tensor([1.0, 2.0]))
    >>> data = economy.simulate(n_interventions=3, n_samples=4, seed=0)
    >>> y, x = data.x[..., :2], data.x[..., 2:]  # X = (demand, gross output)
    >>> torch.allclose(x, x @ A.T + y, atol=1e-5)  # every sample is at the equilibrium
    True
    >>> tau, omega = economy.solution()  # (I - A)^-T r = (2, 8/3) on the demand block
    >>> [round(t, 4) for t in tau.tolist()], torch.equal(tau, omega)
    ([2.0, 2.6667, 0.0, 0.0], True)
    """

    def __init__(
        self,
        A,
        emissions,
        demand=None,
        demand_scale=0.1,
        emission_noise: float = 0.05,
        intervention_scale: float = 0.5,
    ):
        self.A = torch.as_tensor(A, dtype=torch.get_default_dtype())
        n = self.A.shape[0]
        if self.A.shape != (n, n):
            raise ValueError(f"A must be square, got {tuple(self.A.shape)}")
        if float(torch.linalg.eigvals(self.A).abs().max()) >= 1:
            raise ValueError("A must have spectral radius < 1 (a productive economy)")
        self.emissions = torch.as_tensor(emissions, dtype=self.A.dtype)
        self.demand = (
            torch.ones(n) if demand is None else torch.as_tensor(demand, dtype=self.A.dtype)
        )
        self.demand_scale = torch.as_tensor(demand_scale, dtype=self.A.dtype).expand(n)
        if emission_noise <= 0:
            raise ValueError(f"emission_noise must be positive, got {emission_noise}")
        self.emission_noise, self.intervention_scale = emission_noise, intervention_scale
        self.n_sectors = n

    @property
    def n_low(self) -> int:
        return 2 * self.n_sectors

    @property
    def demand_mask(self) -> torch.Tensor:
        mask = torch.zeros(self.n_low, dtype=torch.bool)
        mask[: self.n_sectors] = True
        return mask

    tau_mask = omega_mask = demand_mask

    def model(self) -> torch.Tensor:
        """The economy as a Pyro model; returns ``X = (y, x)``, records ``"ghg"``."""
        y = pyro.sample("y", dist.Normal(self.demand, self.demand_scale).to_event(1))
        x = equilibrate(
            "economy", {"x": lambda x: x @ self.A.T + y}, init={"x": torch.zeros_like(y)}
        )
        pyro.sample("ghg", dist.Normal(x["x"] @ self.emissions, self.emission_noise))
        return torch.cat([y, x["x"]], -1)

    def sample_interventions(self, n_interventions: int) -> torch.Tensor:
        """``(I, 2 n)`` demand shifts (zero on the gross-output block)."""
        i = torch.zeros(n_interventions, self.n_low)
        i[:, : self.n_sectors] = self.intervention_scale * torch.randn(
            n_interventions, self.n_sectors
        )
        return i

    def shift_actions(self, interventions: torch.Tensor) -> dict:
        """``{"y": pce.Shift(i)}`` on the demand block."""
        return {"y": Shift(interventions[:, None, : self.n_sectors])}

    def observables(self, trace) -> tuple[torch.Tensor, torch.Tensor]:
        """``X = (y, x)`` is the model's return value; ``Y`` the site ``"ghg"``."""
        return trace.nodes["_RETURN"]["value"], trace.nodes["ghg"]["value"]

    def solution(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Analytic ``(τ, ω)`` (Prop. 3.3 with ``X = (y, x)``, ``x = A x + y``)."""
        n = self.n_sectors
        full = torch.zeros(2 * n, 2 * n, dtype=self.A.dtype)
        full[n:, :n], full[n:, n:] = torch.eye(n, dtype=self.A.dtype), self.A
        tau0 = torch.cat([torch.zeros(n, dtype=self.A.dtype), self.emissions])
        return linear_gaussian_solution(full, tau0, list(range(n)))
