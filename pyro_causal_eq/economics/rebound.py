"""The price-rebound model: prices, demand curves and quantities as one cyclic SSCM.

Three sectors; ``A[i, j]`` is the input of good ``i`` per unit of good ``j`` and sector
:data:`ENERGY` (index 1) is energy. The structural assignments, solved jointly by
:func:`~pyro_causal_eq.equilibrate` as the system ``"rebound"``, are

- unit prices ``p := Aᵉᵀ p + Aᵉᵀ e₁``: the price of a good is the energy embodied in one unit
  of it (direct energy input ``Aᵉ[1, j]`` plus the energy embodied in its inputs);
- final demands ``y_i := s / (exp(k (p_i / p̄ - 1)) + 1)`` (logistic demand curves with
  ``s = 1.42``, ``p̄ = 0.4``, ``k = 10``);
- quantities ``x := Aᵉ x + y(p)`` (Leontief),

where ``Aᵉ`` is ``A`` with its **energy row** (row 1, the energy input of every good ``j``)
multiplied by the energy-efficiency factor: ``Aᵉ[1, j] = efficiency[j] · A[1, j]``. The factor
is the deterministic site ``"efficiency"`` (ones by default, one factor per consuming sector),
so an efficiency gain is the multiplicative Lie intervention
``pce.do(rebound_model, actions={"efficiency": pce.Scale(0.6)})`` (a scalar factor scales the
whole row; ``pce.Scale(torch.tensor([0.6, 1, 1]))`` only good 0's energy input). The energy
used by the economy, ``x[..., 1]``, is recorded as the deterministic site ``"energy_use"``.

Reference equilibrium: ``p ≈ (0.5263, 0.0526, 0)``, ``x ≈ (0.2104, 1.5249, 1.7460)``. At
efficiency 0.6 the price of good 0 falls to ``0.3/0.97``, its demand jumps and energy use rises
to ``≈ 1.862`` (backfire). Keeping the demand ``y[0]`` invariant by a soft intervention on the
price node ``p[0]`` (a tax) makes energy use fall to ``≈ 1.482`` instead.
"""

from __future__ import annotations

import pyro
import torch

from ..ops import equilibrate

ENERGY = 1
REFERENCE_A = ((0.0, 0.1, 0.0), (0.5, 0.0, 0.0), (0.1, 0.2, 0.0))
DEMAND_SCALE, DEMAND_PRICE, DEMAND_SLOPE = 1.42, 0.4, 10.0


def rebound_matrix(a01=None, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The technical coefficients of the rebound model, optionally with ``A[0, 1] = a01``.

    :param a01: input of good 0 per unit of good 1 (the paper's free coefficient, e.g. in
        ``[0.01, 0.19]``); a tensor of shape ``batch`` gives a batch of matrices.
    :param dtype: floating dtype (default: ``a01``'s, else the default dtype).
    :returns: ``A`` of shape ``batch + (3, 3)``.

    >>> rebound_matrix(torch.tensor([0.05, 0.15]))[:, 0, 1]
    tensor([0.0500, 0.1500])
    """
    if dtype is None:
        dtype = a01.dtype if isinstance(a01, torch.Tensor) else torch.get_default_dtype()
    A = torch.tensor(REFERENCE_A, dtype=dtype)
    if a01 is None:
        return A
    a01 = torch.as_tensor(a01, dtype=dtype)
    if not bool(torch.isfinite(a01.detach()).all()):
        raise ValueError(f"rebound_matrix: a01 must be finite, got {a01}")
    mask = torch.zeros(3, 3, dtype=dtype)
    mask[0, 1] = 1.0
    return A * (1 - mask) + a01[..., None, None] * mask


def demand(
    p: torch.Tensor,
    scale: float = DEMAND_SCALE,
    price: float = DEMAND_PRICE,
    slope: float = DEMAND_SLOPE,
) -> torch.Tensor:
    """Logistic demand curve ``y = scale / (exp(slope (p / price - 1)) + 1)``, decreasing in p.

    >>> round(float(demand(torch.tensor(0.4))), 4)
    0.71
    """
    return scale * torch.sigmoid(-slope * (p / price - 1.0))


def rebound_model(
    A: torch.Tensor | None = None,
    *,
    a01=None,
    efficiency=None,
    demand_scale: float = DEMAND_SCALE,
    demand_price: float = DEMAND_PRICE,
    demand_slope: float = DEMAND_SLOPE,
) -> dict[str, torch.Tensor]:
    """The price-rebound model (see the module docstring for the equations).

    :param A: technical coefficients, shape ``batch + (3, 3)`` (default: the reference matrix);
        ``A[i, j]`` is the input of good ``i`` per unit of good ``j``; sector 1 is energy.
    :param a01: overrides ``A[..., 0, 1]`` (a tensor of shape ``batch`` gives a batch); this
        is the free parameter over which invariant interventions are learned.
    :param efficiency: value of the ``"efficiency"`` site (default: ones, shape ``(n,)``):
        factor(s) on the energy row of ``A``. Intervene on the site rather than passing it.
    :param demand_scale: saturation level ``s`` of the demand curves.
    :param demand_price: reference price ``p̄`` of the demand curves.
    :param demand_slope: steepness ``k`` of the demand curves.
    :returns: the equilibrium ``{"p": prices, "y": final demands, "x": quantities}``.

    >>> import pyro_causal_eq as pce
    >>> eq = rebound_model()
    >>> eq["x"].round(decimals=4)
    tensor([0.2104, 1.5249, 1.7460])
    >>> backfire = pce.do(rebound_model, actions={"efficiency": pce.Scale(0.6)})()
    >>> round(float(backfire["x"][ENERGY]), 3)
    1.862
    """
    if A is None:
        A = rebound_matrix(a01)
    else:
        A = torch.as_tensor(A, dtype=torch.get_default_dtype())
        if A.dim() < 2 or A.shape[-1] != A.shape[-2] or A.shape[-1] <= ENERGY:
            raise ValueError(f"rebound_model: A must be (..., n, n) with n >= 2, got {A.shape}")
        if a01 is not None:
            a01 = torch.as_tensor(a01, dtype=A.dtype)
            mask = torch.zeros(A.shape[-2:], dtype=A.dtype)
            mask[0, 1] = 1.0
            A = A * (1 - mask) + a01[..., None, None] * mask
    if not bool(torch.isfinite(A.detach()).all()):
        raise ValueError("rebound_model: A has NaN or infinite entries")
    n = A.shape[-1]
    if efficiency is None:
        efficiency = torch.ones(n, dtype=A.dtype)
    efficiency = pyro.deterministic("efficiency", torch.as_tensor(efficiency, dtype=A.dtype))
    if not bool((efficiency.detach() > 0).all()):
        raise ValueError(f"rebound_model: efficiency factors must be positive, got {efficiency}")
    energy_row = torch.arange(n) == ENERGY
    A_eff = torch.where(energy_row[:, None], efficiency[..., None, :] * A, A)
    A_t = A_eff.transpose(-1, -2)
    direct_energy = A_eff[..., ENERGY, :]

    def prices(p):
        return (A_t @ p.unsqueeze(-1)).squeeze(-1) + direct_energy

    def final_demand(p):
        return demand(p, demand_scale, demand_price, demand_slope)

    def quantities(x, y):
        return (A_eff @ x.unsqueeze(-1)).squeeze(-1) + y

    zeros = torch.zeros(n, dtype=A.dtype)
    eq = equilibrate(
        "rebound",
        {"p": prices, "y": final_demand, "x": quantities},
        init={"p": zeros, "y": zeros, "x": zeros},
    )
    pyro.deterministic("energy_use", eq["x"][..., ENERGY])
    return eq
