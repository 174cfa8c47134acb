"""Is a solution a locally unique (and attracting) equilibrium? Raise a clear error if not."""

from __future__ import annotations

import torch

from ..errors import EquilibriumError
from . import stability
from .solvers import ForwardResult, dense_jacobian
from .solvers.newton import STABLE_BOUND


def failed_indices(mask: torch.Tensor, limit: int = 5) -> str:
    """`` at batch index (i, j), ...`` for the ``True`` entries of a batch mask ('' if none or
    unbatched).

    >>> failed_indices(torch.tensor([[False, True], [True, False]]))
    ' at batch index (0, 1), (1, 0)'
    """
    if mask.dim() == 0 or not bool(mask.any()):
        return ""
    rows = torch.nonzero(mask).tolist()
    text = ", ".join("(" + ", ".join(str(i) for i in row) + ")" for row in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f" at batch index {text}{more}"


def check_equilibrium(options, f, result: ForwardResult, system: str) -> None:
    """Raise unless the solution is a locally unique (and, with ``options.require_stable``,
    attracting) equilibrium.

    Up to ``options.check_size`` scalars (or with ``check="always"``) the Jacobian at the
    solution is formed densely (or taken from Newton's last step): a norm bound below one
    settles it at once, otherwise the singular values of ``I - J`` and the eigenvalues of ``J``
    decide. Larger systems reuse what the solver has: Newton's last Jacobian (norm bound, then
    power iteration, eigenvalues unless the estimate is clearly below one), Anderson's history
    (Ritz values; a power iteration with vector-Jacobian products confirms a suspected
    instability, so strongly non-normal contractions may rarely be flagged; ``check="always"``
    decides exactly). When the solver left nothing (Newton's stand-ins dropped because they
    came from an unchecked traced Jacobian, or no iteration ran), the Jacobian is formed at
    the solution, or a power iteration with exact products decides. Picard only converges to
    attracting fixed points.
    """
    if options.check == "never":
        return
    n = result.z.shape[-1]
    dense = options.check == "always" or n <= options.check_size
    jac = result.state.get("jacobian")  # Newton's last Jacobian stands in for J
    bound = result.state.get("norm_bound")  # ... or its norm bound, when I - J replaced it
    newton = "lu" in result.state  # Newton stepped (its stand-ins may have been dropped)
    history = result.state.get("history")
    if newton and not dense and history is not None and options.require_stable:
        # Newton after Anderson: Anderson's Ritz values settle clear contractions for free
        if bool((stability.ritz_radius(*history) < 1.0).all()):
            return
    if bound is not None and bool((bound < STABLE_BOUND).all()):
        return
    if jac is None and (dense or newton):
        jac = dense_jacobian(f, result.z).detach()
    if jac is not None:
        _check_with_jacobian(options, jac, dense, result, system)
        return
    if options.require_stable:
        # Anderson's Ritz values, else (no iteration ran: init was already the solution) a
        # power iteration with exact vector-Jacobian products
        if history is not None and bool((stability.ritz_radius(*history) < 1.0).all()):
            return
        with torch.enable_grad():
            z_leaf = result.z.detach().requires_grad_(True)
            out = f(z_leaf)

        def vjp(v: torch.Tensor) -> torch.Tensor:
            (grad,) = torch.autograd.grad(out, z_leaf, v, retain_graph=True, allow_unused=True)
            return torch.zeros_like(v) if grad is None else grad

        _raise_if_unstable(stability.power_radius(vjp, result.z), system, result)


def _check_with_jacobian(options, jac, dense, result, system) -> None:
    if bool((stability.norm_bound(jac) < STABLE_BOUND).all()):
        return
    n = jac.shape[-1]
    if dense:
        smallest = stability.relative_smallest_singular_value(jac)
        bad = ~(smallest >= 10 * n * torch.finfo(jac.dtype).eps)
        if bool(bad.any()):
            raise EquilibriumError(
                f"equilibrate({system!r}): I - ∂F/∂x is singular at the solution (smallest "
                f"relative singular value {float(smallest.min()):.3g}){failed_indices(bad)}: "
                "the equilibrium is not locally unique",
                residual=result.residual.detach(),
            )
    if not options.require_stable:
        return
    if dense:
        radius = stability.spectral_radius(jac)
    else:  # power iteration settles clear contractions; eigenvalues decide the rest
        radius = stability.power_radius(lambda v: (jac @ v.unsqueeze(-1)).squeeze(-1), result.z)
        if not bool((radius < 0.97).all()):
            radius = stability.spectral_radius(jac)
    _raise_if_unstable(radius, system, result)


def _raise_if_unstable(radius: torch.Tensor, system: str, result: ForwardResult) -> None:
    result.state["spectral_radius"] = radius
    bad = (radius >= 1.0) | ~torch.isfinite(radius)
    if bool(bad.any()):
        raise EquilibriumError(
            f"equilibrate({system!r}): the fixed point is not attracting: spectral radius of "
            f"∂F/∂x is {float(radius.max()):.4g} >= 1{failed_indices(bad)}, so the system's "
            "dynamics do not settle there (pass require_stable=False to accept it)",
            residual=result.residual.detach(),
        )
