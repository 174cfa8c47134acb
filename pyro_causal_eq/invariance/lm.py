"""Levenberg-Marquardt for small least-squares problems (polishing learned mechanisms)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import EquilibriumError


def levenberg_marquardt(
    residuals: Callable[[], torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    steps: int = 20,
    damping: float = 1e-3,
    losses: list[float] | None = None,
    callback: Callable[[float], None] | None = None,
) -> float:
    """Minimize ``||r(w)||²`` over ``params`` in place by damped Gauss-Newton steps.

    The Jacobian ``∂r/∂w`` is built row by row with reverse mode (one backward pass per
    residual, through the implicit gradients of the equilibria), so this suits problems with
    a few hundred residuals.

    :param residuals: closure returning the residual vector (differentiable in ``params``).
    :param params: the parameters.
    :param steps: maximal accepted steps.
    :param damping: initial damping ``λ`` (multiplies ``diag(JᵀJ)`` plus the identity).
    :param losses: list to append the loss ``mean(r²)`` after each accepted step.
    :param callback: called with the loss after each accepted step (e.g. a progress bar).
    :returns: the final loss ``mean(r²)``.

    >>> w = torch.nn.Parameter(torch.tensor([0.0, 0.0], dtype=torch.float64))
    >>> x = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    >>> loss = levenberg_marquardt(lambda: w[0] + w[1] * x - (1 + 2 * x), [w], steps=5)
    >>> [round(v, 6) for v in w.tolist()], loss < 1e-20
    ([1.0, 2.0], True)
    """
    params = list(params)

    def flat() -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in params])

    def assign(vector: torch.Tensor) -> None:
        offset = 0
        with torch.no_grad():
            for p in params:
                p.copy_(vector[offset : offset + p.numel()].reshape(p.shape))
                offset += p.numel()

    r = residuals()
    loss = float(r.detach().pow(2).mean())
    for _ in range(steps):
        rows = []
        for i in range(r.numel()):
            grads = torch.autograd.grad(r[i], params, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(p)).reshape(-1)
                        for g, p in zip(grads, params, strict=True)
                    ]
                )
            )
        jac = torch.stack(rows)
        rd = r.detach()
        gram, grad = jac.T @ jac, jac.T @ rd
        w = flat()
        eye = torch.eye(gram.shape[0], dtype=gram.dtype)
        accepted = False
        for _ in range(12):
            system = gram + damping * (torch.diag(gram.diagonal()) + eye)
            step = torch.linalg.solve(system, -grad)
            assign(w + step)
            try:
                with torch.no_grad():
                    trial = float(residuals().pow(2).mean())
            except EquilibriumError:
                trial = float("inf")
            if trial < loss:
                damping = max(damping / 3, 1e-12)
                accepted = True
                break
            damping *= 4
        if not accepted:
            assign(w)
            break
        loss = trial
        if losses is not None:
            losses.append(loss)
        if callback is not None:
            callback(loss)
        r = residuals()
    return loss
