"""The pushforward of exogenous noise through the equilibrium map of a cyclic SCM."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import torch
from pyro.distributions import TorchDistribution, constraints

from ..internals.equilibrium import solve_equilibrium
from ..internals.logdet import Hutchinson, logabsdet
from ..internals.mechanisms import NodeLayout, evaluate, mechanism_parents
from .shapes import node_event_shapes, node_noise, params_batch_shape

#: systems of at most this many scalars get the exact (LU) log-determinant by default
EXACT_LOGDET_MAX_SIZE = 4096


def with_parents(fn: Callable[..., torch.Tensor], parents: tuple[str, ...]) -> Callable:
    """``fn`` (called with keyword parents) with an explicit signature naming ``parents``."""

    def mechanism(**values):
        return fn(**values)

    mechanism.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in parents]
    )
    return mechanism


class EquilibriumDistribution(TorchDistribution):
    """Law of the noisy nodes of ``x_k := f_k(Pa_k) + u_k`` (``u_k ~ noise[k]``) at equilibrium.

    ``rsample`` draws ``u`` and solves ``x = F(x) + u`` (implicit gradients). ``log_prob`` is
    the change of variables ``log p_u(x - F(x)) + log|det(I - ∂F/∂x)|``; nodes without noise
    are solved given the noisy ones and integrated out exactly through the Schur complement,
    ``log|det(I - J)| - log|det(I - J_dd)|``. The value is the noisy node itself when one node
    is noisy, else the noisy nodes packed (in system order) into one vector.

    :param system: the system's name (for messages).
    :param mechanisms: node -> structural assignment ``f_k`` (after interventions).
    :param init: node -> initial value (defines the node shapes).
    :param noise: noisy node -> distribution of ``u_k`` (event shape = node shape).
    :param event_dims: as in :func:`~pyro_causal_eq.equilibrate`.
    :param solver: the equilibrium solver (``None``: the default for the size).
    :param solver_overrides: solver options.
    :param logdet: ``"auto"`` (exact up to :data:`EXACT_LOGDET_MAX_SIZE` scalars), ``"exact"``
        or a :class:`~pyro_causal_eq.distributions.Hutchinson` estimator (opt-in, stochastic).

    >>> import torch, pyro.distributions as dist
    >>> d = EquilibriumDistribution("s", {"x": lambda x: 0.5 * x + 1.0},
    ...                             {"x": torch.zeros((), dtype=torch.float64)},
    ...                             {"x": dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)})
    >>> float(d.log_prob(torch.tensor(2.0, dtype=torch.float64)))  # N(2; 2, 2²)
    -1.612085713764618
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(
        self,
        system: str,
        mechanisms: Mapping[str, Callable],
        init: Mapping[str, torch.Tensor],
        noise: Mapping[str, TorchDistribution],
        *,
        event_dims: Mapping[str, int] | None = None,
        solver=None,
        solver_overrides: Mapping | None = None,
        logdet: str | Hutchinson = "auto",
        batch_shape: torch.Size | None = None,
        validate_args=None,
    ):
        self.system, self.mechanisms, self.init = system, dict(mechanisms), dict(init)
        self.solver, self.solver_overrides = solver, dict(solver_overrides or {})
        self.event_dims = dict(event_dims or {})
        self.nodes = list(self.mechanisms)
        self.parents = {k: mechanism_parents(f, self.nodes, k) for k, f in self.mechanisms.items()}
        self.event_shapes = node_event_shapes(system, self.nodes, self.init, self.event_dims)
        raw_noise = dict(noise)
        self.noisy = [k for k in self.nodes if k in raw_noise]
        self.fixed = [k for k in self.nodes if k not in raw_noise]
        if not self.noisy:
            raise ValueError(f"equilibrate({system!r}): no noisy node to define a distribution")
        self._logdet = self._check_logdet(logdet)
        noise = {k: node_noise(system, k, raw_noise[k], self.event_shapes[k]) for k in self.noisy}
        if batch_shape is None:
            shapes = [
                params_batch_shape(self.mechanisms, self.parents, self.init, self.event_shapes)
            ]
            shapes += [d.batch_shape for d in noise.values()]
            batch_shape = torch.broadcast_shapes(*shapes)
        self.noise = {k: d.expand(torch.Size(batch_shape)) for k, d in noise.items()}
        sizes = [self.event_shapes[k].numel() for k in self.noisy]
        event_shape = self.event_shapes[self.noisy[0]] if len(self.noisy) == 1 else (sum(sizes),)
        super().__init__(torch.Size(batch_shape), torch.Size(event_shape), validate_args)

    def _check_logdet(self, logdet):
        size = sum(self.event_shapes[k].numel() for k in self.nodes)
        if isinstance(logdet, Hutchinson):
            if self.fixed:
                raise ValueError(
                    f"equilibrate({self.system!r}): the Hutchinson log-determinant needs noise on "
                    f"every node; {self.fixed} have none"
                )
            return logdet
        if logdet == "auto":
            if size > EXACT_LOGDET_MAX_SIZE:
                raise ValueError(
                    f"equilibrate({self.system!r}): {size} scalars is above the exact "
                    f"log-determinant limit {EXACT_LOGDET_MAX_SIZE}; pass "
                    "logdet=pce.distributions.Hutchinson(terms=..., probes=...) to opt in to "
                    "the stochastic estimator, or logdet='exact'"
                )
            return "exact"
        if logdet != "exact":
            raise ValueError(f"logdet must be 'auto', 'exact' or a Hutchinson, got {logdet!r}")
        return logdet

    @constraints.dependent_property
    def support(self):
        return constraints.independent(constraints.real, len(self.event_shape))

    def expand(self, batch_shape, _instance=None):
        return type(self)(
            self.system,
            self.mechanisms,
            self.init,
            self.noise,
            event_dims=self.event_dims,
            solver=self.solver,
            solver_overrides=self.solver_overrides,
            logdet=self._logdet,
            batch_shape=torch.Size(batch_shape),
            validate_args=False,
        )

    # -- layout ----------------------------------------------------------------------------
    def _layout(self, nodes: list[str], batch_shape: torch.Size) -> NodeLayout:
        return NodeLayout(tuple(nodes), tuple(self.event_shapes[k] for k in nodes), batch_shape)

    def _split(self, value: torch.Tensor) -> dict[str, torch.Tensor]:
        """Noisy node values from a value of this distribution."""
        if len(self.noisy) == 1:
            return {self.noisy[0]: value}
        batch = value.shape[:-1]
        return self._layout(self.noisy, batch).unpack(value)

    def _join(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if len(self.noisy) == 1:
            return values[self.noisy[0]]
        node = self.noisy[0]
        batch = values[node].shape[: values[node].dim() - len(self.event_shapes[node])]
        return self._layout(self.noisy, batch).pack(values)

    def _init(self, batch_shape: torch.Size, nodes: list[str]) -> dict[str, torch.Tensor]:
        out = {}
        for k in nodes:
            value, event = torch.as_tensor(self.init[k]), self.event_shapes[k]
            try:
                out[k] = value.expand(batch_shape + event)
            except RuntimeError:  # init batched differently: start every element from one
                out[k] = value.reshape((-1,) + event)[0].expand(batch_shape + event)
        return out

    def _solve(self, mechanisms, nodes, batch_shape):
        init = self._init(batch_shape, nodes)
        values, _, _ = solve_equilibrium(
            mechanisms,
            init,
            system=self.system,
            event_dims={k: len(self.event_shapes[k]) for k in nodes},
            solver=self.solver,
            solver_overrides=self.solver_overrides,
        )
        return values

    # -- sampling --------------------------------------------------------------------------
    def rsample(self, sample_shape=()) -> torch.Tensor:
        u = {k: d.rsample(sample_shape) for k, d in self.noise.items()}
        batch_shape = torch.Size(sample_shape) + self.batch_shape
        mechanisms = dict(self.mechanisms)
        for k in self.noisy:
            mechanisms[k] = with_parents(
                lambda _f=self.mechanisms[k], _u=u[k], **pa: _f(**pa) + _u, self.parents[k]
            )
        values = self._solve(mechanisms, self.nodes, batch_shape)
        return self._join(values)

    def node_values(self, value: torch.Tensor) -> dict[str, torch.Tensor]:
        """All node values at a value of the noisy nodes: the nodes without noise solved
        given them (an equilibrium of the remaining system, implicit gradients)."""
        values = self._split(value)
        if not self.fixed:
            return values
        node = self.noisy[0]
        batch = values[node].shape[: values[node].dim() - len(self.event_shapes[node])]
        batch = torch.broadcast_shapes(batch, self.batch_shape)
        values = {k: v.expand(batch + self.event_shapes[k]) for k, v in values.items()}
        inner = {}
        for k in self.fixed:
            inner_parents = tuple(p for p in self.parents[k] if p in self.fixed)
            given = {p: values[p] for p in self.parents[k] if p not in self.fixed}
            inner[k] = with_parents(
                lambda _f=self.mechanisms[k], _g=given, **pa: _f(**pa, **_g), inner_parents
            )
        values.update(self._solve(inner, self.fixed, batch))
        return {k: values[k] for k in self.nodes}

    # -- density ---------------------------------------------------------------------------
    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        values = self.node_values(value)
        node = self.noisy[0]
        batch = values[node].shape[: values[node].dim() - len(self.event_shapes[node])]
        batch = torch.broadcast_shapes(batch, self.batch_shape)
        layout = self._layout(self.nodes, batch)

        def structural(z: torch.Tensor) -> torch.Tensor:
            # the layout follows z's batch (the Hutchinson probes add a leading dim)
            here = layout if z.shape[:-1] == batch else self._layout(self.nodes, z.shape[:-1])
            return here.pack(evaluate(self.mechanisms, self.parents, here.unpack(z)))

        z = layout.pack(values)
        image = layout.unpack(structural(z))
        log_p = sum(self.noise[k].log_prob(values[k] - image[k]) for k in self.noisy)
        log_p = log_p + logabsdet(structural, z, self._logdet)
        if self.fixed:
            log_p = log_p - self._fixed_logabsdet(values, batch)
        return log_p

    def _fixed_logabsdet(self, values, batch) -> torch.Tensor:
        """``log|det(I - J_dd)|`` of the nodes without noise (the Schur complement term)."""
        layout = self._layout(self.fixed, batch)
        given = {k: values[k] for k in self.noisy}

        def inner(z: torch.Tensor) -> torch.Tensor:
            state = dict(given, **layout.unpack(z))
            inner_nodes = {k: self.mechanisms[k] for k in self.fixed}
            return layout.pack(evaluate(inner_nodes, self.parents, state))

        return logabsdet(inner, layout.pack({k: values[k] for k in self.fixed}), "exact")
