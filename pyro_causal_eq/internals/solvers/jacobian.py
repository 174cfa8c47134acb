"""Dense batched Jacobians of a map that acts independently on each batch element."""

from __future__ import annotations

from collections.abc import Callable

import torch


def dense_jacobian(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """``∂f/∂z`` for each batch element, shape ``batch + (n, n)``.

    Batch elements must not interact (the broadcasting semantics of plates), so the Jacobian of
    ``Σ_b f(z)_b`` with respect to ``z`` holds every per-element Jacobian at once. Uses
    ``torch.func.jacrev`` (vectorized) and falls back to one backward pass per output when a
    mechanism cannot be vectorized (e.g. data-dependent Python control flow).

    :param f: map from ``batch + (n,)`` to ``batch + (n,)``.
    :param z: point of evaluation.

    >>> W = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> dense_jacobian(lambda z: z @ W.T, torch.zeros(2))
    tensor([[1., 2.],
            [3., 4.]])
    """
    n = z.shape[-1]
    batch_shape = z.shape[:-1]

    def summed(x: torch.Tensor) -> torch.Tensor:
        return f(x).reshape(-1, n).sum(0)

    z = z.detach()
    try:
        if not batch_shape:  # a single system: no batch to sum over
            return torch.func.jacrev(f)(z)
        jac = torch.func.jacrev(summed)(z)  # (n, *batch, n)
    except Exception:  # noqa: BLE001 - any functorch limitation: use the loop
        with torch.enable_grad():
            x = z.clone().requires_grad_(True)
            out = summed(x)
            rows = [
                torch.autograd.grad(out[i], x, retain_graph=True, allow_unused=True)[0]
                for i in range(n)
            ]
        rows = [torch.zeros_like(z) if r is None else r for r in rows]
        jac = torch.stack(rows, 0)
    return jac.movedim(0, -2) if batch_shape else jac
