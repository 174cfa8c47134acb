"""Which ``torch.func`` transforms are active (the forward solve cannot run under some)."""

from __future__ import annotations

from ..errors import UnsupportedTransformError

_ALTERNATIVES = (
    "use torch.func.grad / vjp / jacrev (nestable: jacrev(grad(f)) is a Hessian), "
    "torch.autograd.grad(..., create_graph=True) or torch.autograd.functional.hessian / "
    "jacobian; instead of vmap, give parameters leading batch dimensions (plates)"
)


def active_transforms() -> list[str]:
    """Names of the active ``torch.func`` transforms, innermost last (``[]`` outside any).

    >>> active_transforms()
    []
    """
    try:
        from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters
    except ImportError:  # pragma: no cover - older or newer torch without this helper
        return []
    return [str(i.key()).rsplit(".", 1)[-1] for i in retrieve_all_functorch_interpreters()]


def raise_if_unsupported_transform(system: str) -> None:
    """Raise :class:`~pyro_causal_eq.errors.UnsupportedTransformError` under ``vmap`` or a
    forward-mode transform (``jvp``, ``jacfwd``, ``hessian``)."""
    unsupported = [t for t in active_transforms() if t in ("Vmap", "Jvp")]
    if unsupported:
        names = {"Vmap": "vmap (also inside jacfwd / hessian)", "Jvp": "jvp / jacfwd / hessian"}
        raise UnsupportedTransformError(
            f"equilibrate({system!r}) cannot run under torch.func "
            f"{', '.join(names[t] for t in dict.fromkeys(unsupported))}: the equilibrium is "
            f"found by an iteration with data-dependent stopping; {_ALTERNATIVES}"
        )
