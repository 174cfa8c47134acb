"""``log|det(I - ∂F/∂x)|`` for change-of-variables densities of equilibria.

Exact: a dense, differentiable Jacobian per batch element and ``slogdet`` (LU). Stochastic
(opt-in, for large systems): the Hutchinson power-series estimator of residual flows,
``log det(I - J) = -Σ_k tr(J^k) / k ≈ -Σ_{k≤K} vᵀ J^k v / k`` with random probes ``v``,
unbiased only in the limit ``K → ∞`` and accurate when ``ρ(J)`` is well below one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Map = Callable[[torch.Tensor], torch.Tensor]


def differentiable_jacobian(f: Map, z: torch.Tensor) -> torch.Tensor:
    """``∂f/∂z`` per batch element, shape ``batch + (n, n)``, differentiable with respect to
    ``z`` and to anything ``f`` closes over (``create_graph``), unlike the solvers' detached
    Jacobian. Batch elements must not interact (plate semantics).

    :param f: map from ``batch + (n,)`` to ``batch + (n,)``.
    :param z: point of evaluation.

    >>> W = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> J = differentiable_jacobian(lambda z: z @ W.T, torch.zeros(5, 2))
    >>> J.shape, J.requires_grad
    (torch.Size([5, 2, 2]), True)
    """
    n = z.shape[-1]
    batch_shape = z.shape[:-1]

    def summed(x: torch.Tensor) -> torch.Tensor:
        return f(x).expand(x.shape).reshape(-1, n).sum(0)

    try:  # vectorized; outer autograd still sees z and the closed-over parameters
        with torch.enable_grad():
            jac = torch.func.jacrev(summed)(z)  # (n, *batch, n)
    except Exception:  # noqa: BLE001 - a mechanism torch.func cannot trace: one row at a time
        with torch.enable_grad():
            x = z if z.requires_grad else z.detach().clone().requires_grad_(True)
            out = summed(x)
            rows = [
                torch.autograd.grad(
                    out[i], x, retain_graph=True, create_graph=True, materialize_grads=True
                )[0]
                if out.requires_grad
                else torch.zeros_like(x)
                for i in range(n)
            ]
        jac = torch.stack(rows, 0)
    jac = jac.movedim(0, -2)  # batch + (n, n): row i = ∂f_i/∂z
    return jac.expand(batch_shape + (n, n))


def exact_logabsdet(jac: torch.Tensor) -> torch.Tensor:
    """``log|det(I - J)|`` by LU; raises on a singular ``I - J``.

    >>> exact_logabsdet(torch.tensor([[0.5, 0.0], [0.0, 0.0]]))
    tensor(-0.6931)
    """
    eye = torch.eye(jac.shape[-1], dtype=jac.dtype, device=jac.device)
    sign, logabsdet = torch.linalg.slogdet(eye - jac)
    if bool((sign == 0).any()):
        raise ValueError("I - ∂F/∂x is singular at the point: the density is not defined there")
    return logabsdet


@dataclass(frozen=True)
class Hutchinson:
    """Opt-in stochastic estimator of ``log|det(I - ∂F/∂x)|`` (residual-flow power series).

    Each call draws ``probes`` Gaussian probe vectors per batch element and truncates the
    series after ``terms`` powers: cost ``terms · probes`` vector-Jacobian products, no dense
    Jacobian. It is a *random, biased* estimate (bias ``~ ρ(J)^terms``); use it only for
    systems too large for the exact LU (thousands of scalars) with a clear contraction.

    :param terms: number of power-series terms ``K``.
    :param probes: number of Hutchinson probes averaged.

    >>> J = torch.tensor([[0.2, 0.1], [0.0, 0.3]])
    >>> est = Hutchinson(terms=40, probes=2000)(lambda z: z @ J.T, torch.zeros(2))
    >>> abs(float(est) - float(exact_logabsdet(J))) < 0.02
    True
    """

    terms: int = 20
    probes: int = 4

    def __post_init__(self):
        if self.terms < 1 or self.probes < 1:
            raise ValueError(f"Hutchinson needs terms >= 1 and probes >= 1, got {self}")

    def __call__(self, f: Map, z: torch.Tensor) -> torch.Tensor:
        # the probes form a leading batch dim (batch elements do not interact)
        zs = z.expand((self.probes,) + z.shape)
        with torch.enable_grad():
            x = zs.detach().clone().requires_grad_(True) if not z.requires_grad else zs
            out = f(x).expand(zs.shape)
            v = torch.randn_like(zs)
            w, total = v, torch.zeros(zs.shape[:-1], dtype=z.dtype, device=z.device)
            for k in range(1, self.terms + 1):
                (w,) = torch.autograd.grad(out, x, w, retain_graph=True, create_graph=True)
                total = total - (w * v).sum(-1) / k  # vᵀ J^k v, with w = (Jᵀ)^k v
        return total.mean(0)


def logabsdet(f: Map, z: torch.Tensor, method: str | Hutchinson = "exact") -> torch.Tensor:
    """``log|det(I - ∂f/∂z)|`` at ``z`` per batch element, exact or by :class:`Hutchinson`.

    :param f: the packed structural map.
    :param z: point of evaluation, ``batch + (n,)``.
    :param method: ``"exact"`` or a :class:`Hutchinson` estimator.
    """
    if isinstance(method, Hutchinson):
        return method(f, z)
    if method != "exact":
        raise ValueError(f"logdet method must be 'exact' or a Hutchinson(...), got {method!r}")
    return exact_logabsdet(differentiable_jacobian(f, z))
