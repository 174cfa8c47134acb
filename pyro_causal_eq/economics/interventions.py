"""The paper's interventions on the Leontief SSCM, as ``pce.do`` actions.

- whole sector assignments: ``x_i := α_i (A x + y)_i`` — ``{"x": Scale(α)}``;
- final demand only: ``x = A x + α ⊙ y`` — ``{"y": Scale(α)}``;
- technical coefficients: ``A := α ⊙ A`` (a matrix, or a row / column vector broadcast) —
  ``{"A": Scale(α)}``.

Factors are bounded, ``α = lo + (hi - lo) sigmoid(d)`` (default ``(0, 2)``: ``α = 2 sigmoid(d)``
as in the paper), with ``d`` the unconstrained parameter.
"""

from __future__ import annotations

import torch

from ..groups import Scale


def bounded_factor(d: torch.Tensor, bounds=(0.0, 2.0)) -> torch.Tensor:
    """``lo + (hi - lo) sigmoid(d)``: factors in the open interval ``bounds``.

    :param d: unconstrained parameters.
    :param bounds: ``(lo, hi)`` with ``0 <= lo < hi``.

    >>> bounded_factor(torch.zeros(2))  # d = 0 is the identity for the default (0, 2)
    tensor([1., 1.])
    """
    lo, hi = bounds
    if not 0.0 <= lo < hi:
        raise ValueError(f"bounds must satisfy 0 <= lo < hi, got {bounds}")
    return lo + (hi - lo) * torch.sigmoid(d)


def positive(alpha) -> torch.Tensor:
    """``α`` as a tensor with exact zeros (the closed end of the box ``[0, hi]``, a limit of
    the open one) raised to the smallest positive float, as the group needs ``α > 0``.

    :param alpha: nonnegative factors.
    :raises ValueError: on negative or NaN factors.
    """
    alpha = torch.as_tensor(alpha)
    if not alpha.is_floating_point():
        alpha = alpha.to(torch.get_default_dtype())
    detached = alpha.detach()
    if bool(torch.isnan(detached).any()) or bool((detached < 0).any()):
        raise ValueError(f"intervention factors must be nonnegative, got {detached}")
    if bool((detached == 0).any()):
        alpha = alpha.clamp_min(torch.finfo(alpha.dtype).tiny)
    return alpha


def assignment_actions(alpha) -> dict:
    """``{"x": Scale(α)}``: scale whole sector assignments ``x_i := α_i (A x + y)_i``.

    :param alpha: nonnegative factors, one per sector (zeros shut a sector down).

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.economics import IOModel
    >>> io = IOModel([[0.1, 0.2], [0.3, 0.1]], [1.0, 2.0], [[1.0, 0.5]], indicators=["GHG"])
    >>> with pce.do(actions=assignment_actions(torch.tensor([0.0, 1.0], dtype=torch.float64))):
    ...     x = io.model(dtype=torch.float64)()
    >>> x.numpy().round(4)  # sector 0 shut down: x_1 = (0.1 x_1 + 2)
    array([0.    , 2.2222])
    """
    return {"x": Scale(positive(alpha))}


def demand_actions(alpha) -> dict:
    """``{"y": Scale(α)}``: scale final demand only.

    :param alpha: factors, one per sector.

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.economics import IOModel
    >>> io = IOModel([[0.5]], [1.0], [[1.0]])
    >>> with pce.do(actions=demand_actions(torch.tensor([0.5]))):
    ...     io.model()()  # x = 0.5 x + 0.5
    tensor([1.])
    """
    return {"y": Scale(positive(alpha))}


def coefficient_actions(alpha) -> dict:
    """``{"A": Scale(α)}``: scale technical coefficients (``α`` broadcast against ``A``; a
    column ``(n, 1)`` scales rows — e.g. the energy input of every sector).

    :param alpha: factors broadcast against ``A``.

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.economics import IOModel
    >>> io = IOModel([[0.5]], [1.0], [[1.0]])
    >>> with pce.do(actions=coefficient_actions(torch.tensor([[0.0]]))):
    ...     io.model()()  # no intermediate inputs: x = y
    tensor([1.])
    """
    return {"A": Scale(positive(alpha))}
