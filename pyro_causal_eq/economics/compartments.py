"""A two-compartment Leontief economy (the setting of the paper's Fig. 2a).

The paper's code for this model was never published; this is our design from the text. Six
sectors form two compartments of three scalar nodes each, ``("a1", "b1", "c1")`` and
``("a2", "b2", "c2")``, with Leontief assignments ``x_i := Σ_j A_ij x_j + y_i`` whose parents
are the non-zero entries of row ``i`` of ``A`` (an arrow ``j -> i`` when ``A_ij != 0``):

- inside each compartment: ``a <-> c`` and ``a -> b``, ``c -> b``, ``b -> a`` (cycles);
- across compartments only from the **bridge** nodes (green in Fig. 2a): ``b1 -> c2`` and
  ``b2 -> c1``, so the two equilibria are interdependent (one strongly connected component).

Intended use: the Lie intervention ``u`` scales node ``a1`` (``v`` scales ``a2``), and the
bridge node ``b1`` (``b2``) is both invariant and auxiliary; its parents ``(a1, c1)`` carry
enough information to track two free parameters, the demand levels ``demand1`` and
``demand2`` of the compartments (final demand ``y = base_demand · level`` per compartment).
Proposition 4 then holds: the only nodes with arrows leaving a compartment are invariant.
"""

from __future__ import annotations

import inspect

import torch

from ..ops import equilibrate

NODES = ("a1", "b1", "c1", "a2", "b2", "c2")
COMPARTMENTS = {"1": ("a1", "b1", "c1"), "2": ("a2", "b2", "c2")}
REFERENCE_A = (
    (0.0, 0.2, 0.3, 0.0, 0.0, 0.0),
    (0.25, 0.0, 0.2, 0.0, 0.0, 0.0),
    (0.3, 0.0, 0.0, 0.0, 0.4, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.2, 0.3),
    (0.0, 0.0, 0.0, 0.25, 0.0, 0.2),
    (0.0, 0.4, 0.0, 0.3, 0.0, 0.0),
)
BASE_DEMAND = (1.0, 0.5, 0.8, 1.0, 0.5, 0.8)


def _assignment(A: torch.Tensor, y: torch.Tensor, i: int, parents: list[int]):
    names = [NODES[j] for j in parents]

    def mechanism(**values):
        total = y[..., i]
        for j, name in zip(parents, names, strict=True):
            total = total + A[..., i, j] * values[name]
        return total

    mechanism.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in names]
    )
    mechanism.__name__ = f"leontief_{NODES[i]}"
    return mechanism


def two_compartment_model(
    A: torch.Tensor | None = None,
    *,
    demand1=1.0,
    demand2=1.0,
    base_demand: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Equilibrium of the two-compartment Leontief economy (nodes ``a1 ... c2``, system
    ``"compartments"``).

    :param A: ``(6, 6)`` technical coefficients in the node order
        ``("a1", "b1", "c1", "a2", "b2", "c2")`` (default: :data:`REFERENCE_A`); its sparsity
        pattern (of the unbatched matrix, or of any batch element) defines the graph.
    :param demand1: final-demand level of compartment 1 (scalar or batch).
    :param demand2: final-demand level of compartment 2 (scalar or batch).
    :param base_demand: final demand at level 1 (default: :data:`BASE_DEMAND`).
    :returns: node name -> equilibrium output.

    >>> eq = two_compartment_model()
    >>> A = torch.tensor(REFERENCE_A); y = torch.tensor(BASE_DEMAND)
    >>> x = torch.linalg.solve(torch.eye(6) - A, y)
    >>> torch.allclose(torch.stack([eq[n] for n in NODES]), x)
    True
    """
    dtype = torch.get_default_dtype()
    A = torch.tensor(REFERENCE_A, dtype=dtype) if A is None else torch.as_tensor(A, dtype=dtype)
    if A.shape[-2:] != (6, 6):
        raise ValueError(f"two_compartment_model: A must be (..., 6, 6), got {tuple(A.shape)}")
    base = torch.tensor(BASE_DEMAND, dtype=dtype) if base_demand is None else base_demand
    d1 = torch.as_tensor(demand1, dtype=dtype)
    d2 = torch.as_tensor(demand2, dtype=dtype)
    levels = torch.stack(torch.broadcast_tensors(d1, d1, d1, d2, d2, d2), dim=-1)
    y = base * levels
    for name, value in (("A", A), ("demand", y)):
        if not bool(torch.isfinite(value.detach()).all()):
            raise ValueError(f"two_compartment_model: {name} has NaN or infinite entries")
    pattern = A.detach().reshape(-1, 6, 6).ne(0).any(0)
    mechanisms = {
        NODES[i]: _assignment(A, y, i, torch.nonzero(pattern[i]).flatten().tolist())
        for i in range(6)
    }
    init = {n: torch.zeros((), dtype=dtype) for n in NODES}
    return equilibrate("compartments", mechanisms, init=init)
