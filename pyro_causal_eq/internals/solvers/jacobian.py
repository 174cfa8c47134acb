"""Dense batched Jacobians of a map that acts independently on each batch element."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .traced_jacobian import Untraceable, trace_jacobian


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
            return cheap[0], cheap[2]

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


def cheap_jacobian(f, z: torch.Tensor) -> tuple[torch.Tensor, bool, bool] | None:
    """``(∂f/∂z, affine, owned)`` at a 1-D ``z`` when the Jacobian is cheap: traced
    (:func:`~.traced_jacobian.trace_jacobian`) and in agreement with an exact vector-Jacobian
    product at a pseudo-random cotangent; else ``None`` (and ``f`` is marked untraceable).

    >>> A = torch.tensor([[0.5, 0.25], [0.0, 0.5]], dtype=torch.float64)
    >>> jac, affine, owned = cheap_jacobian(lambda x: A @ x + 1.0, torch.zeros(2).double())
    >>> bool(torch.equal(jac, A)), affine, owned  # owned: a fresh tensor (here: A itself)
    (True, True, False)
    """
    try:
        jac, affine, owned = trace_jacobian(f, z)
    except Untraceable:
        _mark_untraceable(f)
        return None
    generator = torch.Generator(device=z.device).manual_seed(1)
    u = torch.rand(z.shape, generator=generator, dtype=z.dtype, device=z.device) - 0.5
    with torch.enable_grad():  # torch.func.vjp: also inside torch.func.grad / jacrev
        out, pullback = torch.func.vjp(f, z.detach())
        (exact,) = pullback(u.to(out.dtype))
    exact = exact.detach()
    error = float(torch.linalg.vector_norm(u @ jac - exact))
    tolerance = (1e3 if z.dtype == torch.float64 else 10.0) * torch.finfo(z.dtype).eps
    tiny = torch.finfo(z.dtype).tiny
    if error <= tolerance * max(float(torch.linalg.vector_norm(exact)), tiny):
        return jac, affine, owned
    # rounding of u·J is below n ε ||u|| ||J||_F (cancellation); a wrong rule errs by O(||u|| ||J||)
    scale = float(torch.linalg.vector_norm(u)) * float(torch.linalg.matrix_norm(jac))
    if error <= tolerance * max(scale, tiny):
        return jac, affine, owned
    _mark_untraceable(f)
    return None


def _mark_untraceable(f) -> None:
    try:
        f.untraceable = True
    except AttributeError:  # e.g. a bound method or a builtin: trace again next time
        pass
