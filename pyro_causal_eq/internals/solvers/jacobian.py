"""Dense batched Jacobians of a map that acts independently on each batch element."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from .traced_jacobian import Untraceable, trace


def dense_jacobian(f: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """``∂f/∂z`` for each batch element, shape ``batch + (n, n)``.

    A single system is first traced (:func:`~.traced_jacobian.traced_jacobian`: ``O(n²)``
    for maps built from matrix products with constants and elementwise operations) and the
    result checked against one exact vector-Jacobian product; a map the tracer cannot follow
    is marked (``f.untraceable``) and differentiated by ``torch.func`` from then on.

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
    return owned_jacobian(f, z)[0]


def owned_jacobian(f, z: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(∂f/∂z, owned)`` as :func:`dense_jacobian`; ``owned`` when the result is a fresh
    tensor the caller may overwrite (not, e.g., the matrix ``A`` of ``A @ x`` itself)."""
    n = z.shape[-1]
    batch_shape = z.shape[:-1]
    if not batch_shape and not getattr(f, "untraceable", False):
        cheap = cheap_jacobian(f, z)
        if cheap is not None:
            return cheap.matrix, cheap.owned

    def summed(x: torch.Tensor) -> torch.Tensor:
        return f(x).reshape(-1, n).sum(0)

    z = z.detach()
    try:
        if not batch_shape:  # a single system: no batch to sum over
            return torch.func.jacrev(f)(z), True
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
    return (jac.movedim(0, -2) if batch_shape else jac), True


class TracedJacobian(NamedTuple):
    """A traced Jacobian: the matrix, whether the map was affine along the traced path, whether
    the matrix is a fresh tensor the caller may overwrite, whether it was checked against an
    exact vector-Jacobian product, and the map's value at the point."""

    matrix: torch.Tensor
    affine: bool
    owned: bool
    verified: bool
    value: torch.Tensor


def cheap_jacobian(f, z: torch.Tensor, verify: bool = True) -> TracedJacobian | None:
    """The Jacobian of ``f`` at a 1-D ``z`` when it is cheap: traced
    (:func:`~.traced_jacobian.trace_jacobian`) and checked against an exact product at a
    pseudo-random vector ``u``; else ``None`` (and ``f`` is marked untraceable). For a map the
    trace found affine the check costs one plain evaluation, ``f(z + u) - f(z) = J u``
    exactly; otherwise it is one vector-Jacobian product, skipped without ``verify`` (then
    the caller must not let anything but speed depend on the matrix until a checked one
    replaces it).

    >>> A = torch.tensor([[0.5, 0.25], [0.0, 0.5]], dtype=torch.float64)
    >>> traced = cheap_jacobian(lambda x: A @ x + 1.0, torch.zeros(2).double())
    >>> bool(torch.equal(traced.matrix, A)), traced.affine, traced.owned, traced.verified
    (True, True, False, True)
    """
    try:
        jac, affine, owned, value = trace(f, z)
    except Untraceable:
        _mark_untraceable(f)
        return None
    if not (verify or affine):
        return TracedJacobian(jac, affine, owned, False, value)
    generator = torch.Generator(device=z.device).manual_seed(1)
    u = torch.rand(z.shape, generator=generator, dtype=z.dtype, device=z.device) - 0.5
    z = z.detach()
    if affine:  # a forward difference is exact up to rounding
        u = u * max(float(z.abs().max()), 1.0)
        with torch.no_grad():
            shifted = f(z + u)
        exact, product = shifted - value, jac @ u
        parts = (product - exact, shifted, value, product)
    else:
        exact, product = _vjp(f, z, u), u @ jac
        parts = (product - exact, exact)
    stacked = torch.stack([p.to(z.dtype) for p in parts])
    error, *sizes = torch.linalg.vector_norm(stacked, dim=-1).tolist()  # one sync
    tolerance = (1e3 if z.dtype == torch.float64 else 10.0) * torch.finfo(z.dtype).eps
    tiny = torch.finfo(z.dtype).tiny
    if error <= tolerance * max(sum(sizes), tiny):
        return TracedJacobian(jac, affine, owned, True, value)
    # rounding of J u is below n ε ||u|| ||J||_F (cancellation); a wrong rule errs by O(||u|| ||J||)
    scale = float(torch.linalg.vector_norm(u)) * float(torch.linalg.matrix_norm(jac))
    if error <= tolerance * max(scale + sum(sizes), tiny):
        return TracedJacobian(jac, affine, owned, True, value)
    _mark_untraceable(f)
    return None


def _vjp(f, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """``uᵀ ∂f/∂z`` exactly: by plain autograd (half the cost), or by ``torch.func.vjp`` inside
    a ``torch.func`` transform (where autograd would differentiate the wrong level)."""
    with torch.enable_grad():
        if torch._C._functorch.peek_interpreter_stack() is None:
            x = z.clone().requires_grad_(True)
            out = f(x)
            if not out.requires_grad:  # f does not depend on z
                return torch.zeros_like(z)
            (grad,) = torch.autograd.grad(out, x, u.to(out.dtype), allow_unused=True)
            return torch.zeros_like(z) if grad is None else grad.detach()
        out, pullback = torch.func.vjp(f, z)
        return pullback(u.to(out.dtype))[0].detach()


def _mark_untraceable(f) -> None:
    try:
        f.untraceable = True
    except AttributeError:  # e.g. a bound method or a builtin: trace again next time
        pass
