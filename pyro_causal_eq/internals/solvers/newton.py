"""Globalized Newton's method: dense Jacobian + LU, Armijo line search on the merit
``φ(z) = ½||f(z) - z||²`` and a Levenberg-Marquardt step where the Newton direction fails."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .common import ForwardResult, is_finite, relative_residual
from .jacobian import dense_jacobian, owned_jacobian
from .lu import factorize
from .norm_bound import norm_bound

#: Armijo constant: accept ``φ(z + t d) <= (1 - 2 c t) φ(z)`` (``∇φ·d = -2φ`` for Newton's d)
ARMIJO = 1e-4
#: smallest line-search step before the Levenberg-Marquardt fallback takes over
MIN_STEP = 1e-4
#: a norm bound of ``J`` below this settles the stability check (see ``checks``)
STABLE_BOUND = 0.99
#: damping increases of the Levenberg-Marquardt fallback before an element counts as stalled
LM_TRIES = 12


def newton(
    f: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    atol: float = 0.0,
    jacobian: torch.Tensor | None = None,
    overwrite_jacobian: bool = False,
    stand_in: bool = True,
    value: torch.Tensor | None = None,
) -> ForwardResult:
    """Solve ``z = f(z)`` by globalized Newton steps on ``r(z) = z - f(z)``, per batch element.

    Each step solves ``(I - J) d = f(z) - z`` by LU and backtracks along ``d`` (quadratic
    interpolation, factors in ``[0.1, 0.5]``) until the Armijo condition on the merit
    ``φ = ½||r||²`` holds. Where ``I - J`` is singular or the line search falls below
    :data:`MIN_STEP`, a Levenberg-Marquardt step ``(MᵀM + μI) d = Mᵀ(f(z) - z)`` (``M = I - J``,
    ``μ`` raised tenfold until the merit decreases) is taken instead: a descent direction for
    any ``μ > 0``, so the merit decreases monotonically. Elements where even that fails are
    marked in ``state["stalled"]`` (a stationary point of the merit that is not a root).
    Exact in one step for affine maps. ``state["lu"]`` (an :class:`~.lu.LU`) keeps the last
    factorization of ``I - J`` (reused by the backward) and ``state["jacobian"]`` that ``J``,
    unless ``I - J`` was formed in its place (a fresh Jacobian: no second ``n × n`` buffer);
    then ``state["norm_bound"]`` keeps :func:`~.norm_bound.norm_bound` of it.

    :param f: the map, batched over leading dimensions.
    :param z0: starting point, shape ``batch + (n,)``.
    :param tol: tolerance on the scale-invariant residual, per batch element.
    :param max_iter: maximal number of Newton steps.
    :param atol: floor of the residual's denominator.
    :param jacobian: ``∂f/∂z`` at ``z0`` when the caller has it (used by the first step).
    :param overwrite_jacobian: the first step may turn ``jacobian`` into ``I - J`` in place.
    :param value: ``f(z0)`` when the caller has it (e.g. from tracing the Jacobian).
    :param stand_in: keep ``state["norm_bound"]`` for the stability check (``False`` when the
        caller has a cheaper certificate, e.g. Anderson's Ritz values).

    >>> result = newton(lambda z: 0.5 * z + 1.0, torch.zeros(1, dtype=torch.float64))
    >>> float(result.z), result.iterations
    (2.0, 1)
    """
    n = z0.shape[-1]
    z, fz = z0, f(z0) if value is None else value
    residual = relative_residual(z, fz, atol)
    iterations, state = 0, {}
    stalled = torch.zeros(residual.shape, dtype=torch.bool, device=z.device)
    while iterations < max_iter and not bool(((residual <= tol) | stalled).all()):
        if not (is_finite(fz) and is_finite(z)):
            break
        given = iterations == 0 and jacobian is not None
        jac, owned = (jacobian, overwrite_jacobian) if given else owned_jacobian(f, z)
        state = {}
        if owned and jac.is_contiguous():
            # I - J in place (a second n × n buffer costs page faults); the stability check
            # keeps its cheap certificate, taken before
            if stand_in:
                state["norm_bound"] = norm_bound(jac, enough=STABLE_BOUND)
            m = jac.neg_()
        else:
            state["jacobian"] = jac
            m = -jac
        m.diagonal(dim1=-2, dim2=-1).add_(1.0)  # I - J without a separate identity
        lu = factorize(m)  # may overwrite m
        jac = state.get("jacobian")
        state.update(lu=lu, singular_lu=lu.singular)
        active = ~((residual <= tol) | stalled)
        z, fz, residual, failed = _newton_step(f, z, fz, lu, lu.singular, active, tol, atol)
        if bool(failed.any()):
            eye = torch.eye(n, dtype=z.dtype, device=z.device)  # rare: allocate only here
            jac = dense_jacobian(f, z) if jac is None else jac  # failed: z unchanged
            z, fz, stuck = _levenberg_marquardt_step(f, z, fz, eye - jac, failed)
            stalled = stalled | stuck
        if residual is None or bool(failed.any()):
            residual = relative_residual(z, fz, atol)
        iterations += 1
    state["stalled"] = stalled & ~(residual <= tol)
    if "singular_lu" in state:  # stalled where I - J is singular: no locally unique equilibrium
        state["singular"] = state["stalled"] & state.pop("singular_lu")
    return ForwardResult(z, residual, iterations, residual <= tol, state)


def _merit(z: torch.Tensor, fz: torch.Tensor) -> torch.Tensor:
    """``||f(z) - z||²`` per batch element, NaN mapped to infinity."""
    return (fz - z).square().sum(-1).nan_to_num(float("inf"), float("inf"), float("inf"))


def _newton_step(f, z, fz, lu, singular, active, tol, atol):
    """Newton direction + Armijo backtracking; returns ``(z, f(z), residual or None,
    failed)``, ``failed`` marking active elements whose direction failed (singular or step
    below MIN_STEP). The full step comes first and is taken as it is where it converges
    everywhere (affine maps, the last steps): then its residual is returned too."""
    rhs = fz - z
    any_singular = bool(singular.any())
    if any_singular:
        rhs = torch.where(singular.unsqueeze(-1), torch.zeros_like(fz), rhs)
    direction = lu.solve(rhs)
    if any_singular:
        direction = torch.where(singular.unsqueeze(-1), torch.zeros_like(direction), direction)
    z_try = z + direction
    f_try = f(z_try)
    residual = relative_residual(z_try, f_try, atol)
    if bool((active & (residual <= tol)).all()):
        return z_try, f_try, residual, torch.zeros_like(active)
    merit0 = _merit(z, fz)
    t = torch.ones_like(merit0)
    pending = active & ~singular
    while bool(pending.any()):
        if z_try is None:
            z_try = z + t.unsqueeze(-1) * direction
            f_try = f(z_try)
            residual = relative_residual(z_try, f_try, atol)
        merit = _merit(z_try, f_try)
        ok = (merit <= (1 - 2 * ARMIJO * t) * merit0) | (residual <= tol)
        accept = pending & ok
        z = torch.where(accept.unsqueeze(-1), z_try, z)
        fz = torch.where(accept.unsqueeze(-1), f_try, fz)
        pending = pending & ~ok
        # minimizer of the quadratic through φ(0), φ'(0) = -2φ(0) and φ(t), safeguarded
        denominator = 2 * (merit - merit0 + 2 * merit0 * t)
        guess = torch.where(denominator > 0, 2 * merit0 * t.square() / denominator, 0.5 * t)
        t = torch.minimum(torch.maximum(guess.nan_to_num(0.1), 0.1 * t), 0.5 * t)
        too_short = pending & (t < MIN_STEP)
        if bool(too_short.all()) or not bool((pending & ~too_short).any()):
            break
        z_try = None
    failed = active & (singular | pending)
    return z, fz, None, failed


def _levenberg_marquardt_step(f, z, fz, m, failed):
    """A damped Gauss-Newton step ``(MᵀM + μI) d = Mᵀ(f(z) - z)`` for the ``failed`` elements,
    ``μ`` raised tenfold until the merit decreases; returns ``(z, f(z), stuck)``."""
    g = fz - z
    gram = m.transpose(-1, -2) @ m
    gradient = (m.transpose(-1, -2) @ g.unsqueeze(-1)).squeeze(-1)  # -∇φ
    scale = gram.diagonal(dim1=-2, dim2=-1).amax(-1).clamp_min(torch.finfo(z.dtype).tiny)
    mu = 1e-6 * scale
    merit0 = _merit(z, fz)
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    pending = failed.clone()
    for _ in range(LM_TRIES):
        system = gram + mu[..., None, None] * eye
        direction = torch.linalg.solve_ex(system, gradient.unsqueeze(-1))[0].squeeze(-1)
        z_try = z + direction
        f_try = f(z_try)
        decrease = (gradient * direction).sum(-1)  # -∇φ·d > 0
        merit = _merit(z_try, f_try)
        ok = (merit <= merit0 - 2 * ARMIJO * decrease) & (merit < merit0)
        ok = ok & torch.isfinite(direction).all(-1)
        accept = pending & ok
        z = torch.where(accept.unsqueeze(-1), z_try, z)
        fz = torch.where(accept.unsqueeze(-1), f_try, fz)
        pending = pending & ~ok
        if not bool(pending.any()):
            break
        mu = torch.where(pending, 10 * mu, mu)
    return z, fz, pending
