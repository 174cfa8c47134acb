"""The analytic linear TCR of a linear Gaussian SCM (Proposition 3.3).

For ``X = A X + U + i`` (column convention: ``A[j, k]`` is the effect of ``X_k`` on ``X_j``)
with blocks ``π(1)`` (the intervened variables) and ``π(0)`` (all others, including the
support of the target ``τ₀``), and no edge from ``π(0)`` into ``π(1)``:

``τ̄₁ = A₀₁ᵀ (I − A₀₀)⁻ᵀ τ̄₀`` and ``ω̄₁ = (I − A₁₁)⁻ᵀ τ̄₁`` (up to a common scale).

It lives with the simulators (which know their ``A``); :mod:`pyro_causal_eq.reduction`
re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _as_index(intervened, n: int) -> torch.Tensor:
    index = torch.as_tensor(intervened)
    if index.dtype == torch.bool:
        if index.shape != (n,):
            raise ValueError(f"a boolean intervened mask must have shape ({n},)")
        index = index.nonzero().flatten()
    index = index.to(torch.long).flatten()
    if index.numel() == 0:
        raise ValueError("the intervened set is empty")
    if bool(((index < 0) | (index >= n)).any()) or index.unique().numel() != index.numel():
        raise ValueError(f"intervened must hold distinct indices in [0, {n}), got {index.tolist()}")
    return index.sort().values


def linear_gaussian_solution(
    A: torch.Tensor, tau0: torch.Tensor, intervened: Sequence[int] | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The unique consistent 1-cause linear TCR of Proposition 3.3.

    :param A: ``(N, N)`` adjacency, ``X = A X + U + i``.
    :param tau0: ``(N,)`` target map ``Y = τ₀ᵀ X`` (or the index of a single target variable).
    :param intervened: indices (or a boolean mask) of the intervened variables ``π(1)``.
    :returns: ``(tau, omega)``, each ``(N,)``, zero outside ``π(1)``.

    >>> A = torch.tensor([[0., 0., 0.], [2., 0., 0.], [0., 3., 0.]])  # chain X0 -> X1 -> X2
    >>> tau, omega = linear_gaussian_solution(A, torch.tensor([0., 0., 1.]), [0, 1])
    >>> tau, omega
    (tensor([0., 3., 0.]), tensor([6., 3., 0.]))
    """
    A = torch.as_tensor(A, dtype=torch.get_default_dtype())
    n = A.shape[0]
    if A.shape != (n, n):
        raise ValueError(f"A must be square, got shape {tuple(A.shape)}")
    if isinstance(tau0, int) or (isinstance(tau0, torch.Tensor) and tau0.dim() == 0):
        index = int(tau0)
        if not 0 <= index < n:
            raise ValueError(f"target index {index} out of range [0, {n})")
        tau0 = torch.zeros(n, dtype=A.dtype)
        tau0[index] = 1.0
    tau0 = torch.as_tensor(tau0, dtype=A.dtype)
    if tau0.shape != (n,):
        raise ValueError(f"tau0 must have shape ({n},), got {tuple(tau0.shape)}")
    one = _as_index(intervened, n)
    is_one = torch.zeros(n, dtype=torch.bool)
    is_one[one] = True
    zero = (~is_one).nonzero().flatten()
    if bool((tau0[one] != 0).any()):
        raise ValueError(
            f"the target must not be intervened on: tau0 is non-zero on intervened variable(s) "
            f"{one[tau0[one] != 0].tolist()}"
        )
    if zero.numel() == 0:
        raise ValueError("every variable is intervened: the target has no unintervened block")
    if bool((A[one][:, zero] != 0).any()):
        raise ValueError(
            "Proposition 3.3 needs no edge from an unintervened variable into an intervened one "
            "(A[π(1), π(0)] must vanish)"
        )
    eye0, eye1 = torch.eye(zero.numel(), dtype=A.dtype), torch.eye(one.numel(), dtype=A.dtype)
    a00, a01, a11 = A[zero][:, zero], A[zero][:, one], A[one][:, one]
    tau1 = a01.T @ torch.linalg.solve((eye0 - a00).T, tau0[zero])
    omega1 = torch.linalg.solve((eye1 - a11).T, tau1)
    tau, omega = torch.zeros(n, dtype=A.dtype), torch.zeros(n, dtype=A.dtype)
    tau[one], omega[one] = tau1, omega1
    return tau, omega
