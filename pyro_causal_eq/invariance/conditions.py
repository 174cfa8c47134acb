"""Checks from the theory: Proposition 3 (existence of an invariant soft
intervention) at a reference point. Proposition 4 is in :mod:`.partition`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from .features import auxiliary_features, flat_indices, system_jacobian
from .nodes import (
    find_system,
    run_recorded,
)
from .parameters import Parameters, reference_parameters, with_parameters
from .triplet import prepare_triplet


@dataclass
class Proposition3Report:
    """The three parts of the sufficient condition of Proposition 3 at a reference point.

    :attr invariant: label of the invariant node ``j``.
    :attr auxiliary: label of the auxiliary node ``k``.
    :attr features: labels of the auxiliary's parents (the inputs of its replacement).
    :attr reduced_smallest_singular_value: smallest relative singular value of
        ``I - ∂f_{-j}/∂x_{-j}``.
    :attr parameter_jacobian: ``J^θ_{x*_{Pa_k}}``, parents (rows) by parameters (columns).
    :attr parameter_rank: its numerical rank.
    :attr n_parameters: number of scalar parameters.
    :attr effect: ``∂x*_j/∂x_k`` (hard intervention on the auxiliary).
    :attr reduced_jacobian_ok: ``x_{-j} -> x_{-j} - f_{-j}`` has an invertible Jacobian.
    :attr parameter_rank_ok: ``J^θ_{x*_{Pa_k}}`` has full column rank.
    :attr effect_ok: the auxiliary node has a non-zero effect on the invariant node.
    :attr held_rank: rank of the parameter-to-parents Jacobian with the auxiliary held fixed
        (its mechanism cut, as after the replacement); see :attr:`learnable`.
    :attr notes: warnings found along the way (e.g. a low :attr:`held_rank`).

    >>> import pyro_causal_eq as pce
    >>> def model(tau=torch.tensor(1.0)):  # y = τ + z / 2, z = y / 2
    ...     return pce.equilibrate("s", {"y": lambda z: tau + 0.5 * z, "z": lambda y: 0.5 * y},
    ...                            init={"y": torch.zeros(()), "z": torch.zeros(())})
    >>> report = check_proposition3(model, {"y": pce.Scale(1.3)}, "z",
    ...                             parameters={"tau": torch.distributions.Uniform(0.5, 1.5)})
    >>> report.invariant, report.auxiliary, report.features
    ('z', 'z', ['y'])
    >>> report.reduced_jacobian_ok, report.parameter_rank_ok, report.effect_ok
    (True, True, True)
    >>> report.parameter_rank, report.n_parameters, report.held_rank, report.notes
    (1, 1, 1, [])
    >>> report.holds, report.learnable
    (True, True)
    >>> print(report.explain().splitlines()[0])
    Proposition 3 for invariant 'z' via auxiliary 'z': holds
    """

    invariant: str
    auxiliary: str
    features: list[str]
    reduced_smallest_singular_value: float
    parameter_jacobian: torch.Tensor
    parameter_rank: int
    n_parameters: int
    effect: torch.Tensor
    reduced_jacobian_ok: bool
    parameter_rank_ok: bool
    effect_ok: bool
    held_rank: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """The three parts of Proposition 3 hold."""
        return self.reduced_jacobian_ok and self.parameter_rank_ok and self.effect_ok

    @property
    def learnable(self) -> bool:
        """Proposition 3 holds and the parents still reveal every parameter direction when the
        auxiliary is held fixed (as after replacing its mechanism)."""
        return self.holds and self.held_rank == self.n_parameters

    def explain(self) -> str:
        """A human-readable account of which part holds and which fails."""
        head = (
            f"Proposition 3 for invariant {self.invariant!r} via auxiliary {self.auxiliary!r}: "
            + (
                "holds"
                if self.holds
                else "FAILS (a sufficient condition: invariance may still be "
                "reachable, but is not guaranteed)"
            )
            + ("" if self.learnable or not self.holds else " (but see the note)")
        )
        lines = [
            head,
            f"  (a) reduced Jacobian I - ∂f_-j/∂x_-j invertible: {self.reduced_jacobian_ok} "
            f"(smallest relative singular value {self.reduced_smallest_singular_value:.3g})",
            f"  (b) parameter-to-parents Jacobian full column rank: {self.parameter_rank_ok} "
            f"(rank {self.parameter_rank} of {self.n_parameters} parameters; parents read: "
            f"{self.features})",
            f"  (c) effect ∂x*_j/∂x_k non-zero: {self.effect_ok} "
            f"(max |effect| {float(self.effect.abs().max()) if self.effect.numel() else 0:.3g})",
        ]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def check_proposition3(
    model: Callable,
    intervention: Mapping,
    invariant,
    auxiliary=None,
    parameters: Parameters | None = None,
    *,
    args=(),
    kwargs=None,
    reference: Mapping | None = None,
    rtol: float = 1e-8,
) -> Proposition3Report:
    """Evaluate the sufficient condition of Proposition 3 at a reference point.

    :param model: the Pyro model.
    :param intervention: intervened node or site -> Lie group element.
    :param invariant: invariant node (``"y"``, ``"y[0]"`` or ``("y", 0)``).
    :param auxiliary: auxiliary node (default: the invariant node).
    :param parameters: the free model parameters (name -> distribution, or a callable
        ``n -> dict``); the reference point is their mean unless ``reference`` is given.
    :param args: positional model arguments.
    :param kwargs: fixed keyword model arguments.
    :param reference: parameter values at the reference point (unbatched).
    :param rtol: relative tolerance for singular values and ranks.
    :returns: a :class:`Proposition3Report`; ``report.explain()`` says which part fails.

    >>> import torch, pyro_causal_eq as pce
    >>> def model(gamma=torch.tensor(0.5)):
    ...     return pce.equilibrate("s", {"y": lambda z: 1.0 + 0.5 * z, "z": lambda y: gamma * y},
    ...                            init={"y": torch.zeros(()), "z": torch.zeros(())})
    >>> report = check_proposition3(model, {"y": pce.Scale(1.2)}, "z",
    ...                             parameters={"gamma": torch.distributions.Uniform(0.4, 0.6)})
    >>> report.holds, report.learnable  # gamma reaches y only through z: not learnable
    (True, False)
    """
    if parameters is None and reference is None:
        raise ValueError("check_proposition3 needs the free parameters or a reference point")
    ref = reference_parameters(parameters, reference)
    triplet = prepare_triplet(model, intervention, invariant, auxiliary, ref, args, kwargs)
    system, inv, aux = triplet.system, triplet.invariant, triplet.auxiliary
    features = auxiliary_features([system], aux)
    jac = system_jacobian(system)
    n = jac.shape[0]
    eye = torch.eye(n, dtype=jac.dtype)
    notes: list[str] = []
    j_idx = flat_indices(system, inv)
    keep = [i for i in range(n) if i not in j_idx]
    reduced = (eye - jac)[keep][:, keep]
    smallest = _relative_smallest(reduced) if keep else 1.0
    reduced_ok = smallest > rtol
    # (c) effect of a hard intervention x_k = λ on x_j: dx_-k/dλ = (I - J)_-k,-k⁻¹ J_-k,k
    k_idx = flat_indices(system, aux)
    rest = [i for i in range(n) if i not in k_idx]
    if set(j_idx) <= set(k_idx):
        effect = torch.eye(len(k_idx), dtype=jac.dtype)[[k_idx.index(i) for i in j_idx]]
    else:
        block = (eye - jac)[rest][:, rest]
        if _relative_smallest(block) <= rtol:
            notes.append("x_-k is not locally solvable with x_k held fixed: effect undefined")
            effect = torch.zeros(len(j_idx), len(k_idx), dtype=jac.dtype)
        else:
            d = torch.linalg.solve(block, jac[rest][:, k_idx])
            effect = d[[rest.index(i) for i in j_idx if i in rest]]
    scale = jac.abs().max().clamp_min(1.0)
    effect_ok = bool(effect.abs().max() > rtol * scale) if effect.numel() else False
    # (b) Jacobian of the parameters -> equilibrium parents of k
    pj, n_params = _parameter_jacobian(model, ref, args, kwargs, aux, features)
    rank = _rank(pj, rtol)
    aux_value = aux.select(system.values[aux.node], system.event_dim(aux.node)).detach()
    hold = aux_value[..., 0] if aux.index is not None else system.values[aux.node].detach()
    held, _ = _parameter_jacobian(model, ref, args, kwargs, aux, features, hold=hold)
    held_rank = _rank(held, rtol)
    if held_rank < n_params:
        notes.append(
            f"with the auxiliary held fixed (its mechanism replaced), its parents reveal only "
            f"{held_rank} of {n_params} parameter directions: a replacement reading the parents "
            "cannot track parameters that reach them only through the auxiliary itself"
        )
    if not features:
        notes.append(f"the auxiliary {aux.label!r} reads no node: its replacement is a constant")
    return Proposition3Report(
        inv.label,
        aux.label,
        [f.label for f in features],
        smallest,
        pj,
        rank,
        n_params,
        effect,
        reduced_ok,
        rank == n_params and n_params > 0,
        effect_ok,
        held_rank,
        notes,
    )


def _relative_smallest(matrix: torch.Tensor) -> float:
    sv = torch.linalg.svdvals(matrix)
    return float(sv[-1] / sv[0].clamp_min(1e-300)) if sv.numel() else 1.0


def _parameter_jacobian(model, ref, args, kwargs, aux, features, hold=None):
    """``∂ x*_{Pa_k} / ∂θ`` at the reference; with ``hold`` (the auxiliary's reference value)
    the auxiliary is held fixed at it (its mechanism cut), as after a replacement."""
    from ..handlers.do import do
    from .rewire import ReplaceElement

    leaves = {
        k: v.detach().clone().requires_grad_(True)
        for k, v in ref.items()
        if torch.as_tensor(v).is_floating_point()
    }

    def run():
        return with_parameters(model, dict(ref, **leaves), args, kwargs)

    with torch.enable_grad():
        if hold is None:
            _, systems = run_recorded(run)
        elif aux.index is None:
            with do(actions={aux.node: hold}):
                _, systems = run_recorded(run)
        else:
            with ReplaceElement(aux, lambda: hold):
                _, systems = run_recorded(run)
        system = find_system(systems, aux.node, "auxiliary node")
        rows = [
            f.select(system.values[f.node], system.event_dim(f.node)).reshape(-1) for f in features
        ]
        values = torch.cat(rows) if rows else torch.zeros(0)
        inputs = list(leaves.values())
        n_params = sum(v.numel() for v in inputs)
        jac = []
        for value in values:
            if not value.requires_grad:
                jac.append(torch.zeros(n_params, dtype=value.dtype))
                continue
            grads = torch.autograd.grad(value, inputs, retain_graph=True, allow_unused=True)
            jac.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(x)).reshape(-1)
                        for g, x in zip(grads, inputs, strict=True)
                    ]
                )
            )
    return (torch.stack(jac) if jac else torch.zeros(0, n_params)).detach(), n_params


def _rank(matrix: torch.Tensor, rtol: float) -> int:
    if not matrix.numel():
        return 0
    sv = torch.linalg.svdvals(matrix)
    return int((sv > rtol * sv.max()).sum()) if bool(sv.max() > 0) else 0
