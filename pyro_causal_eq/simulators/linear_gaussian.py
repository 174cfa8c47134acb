"""Linear Gaussian SCMs ``X = A X + U + i`` as Pyro models, with shift interventions.

Each variable is a sample site ``"X{k}"`` (``X_k ~ N(A[k] · X + μ_k, σ_k²)``, sampled in a
topological order); a shift intervention ``i_k`` is applied by
``pce.do(actions={"X{k}": pce.Shift(i_k)})`` (the pushforward ``X_k := A[k]·X + U_k + i_k``).
The intervention prior is ``i_k ~ N(0, s²)`` on the intervened set ``π(1)`` and ``0`` elsewhere.

>>> import pyro_causal_eq as pce, pyro_causal_eq.simulators
>>> scm = pce.simulators.LinearGaussianSCM.random(5, seed=0)   # 4 low-level + target
>>> data = scm.simulate(n_interventions=100, n_samples=8, seed=1)
>>> data.x.shape, data.y.shape, data.interventions.shape
(torch.Size([100, 8, 5]), torch.Size([100, 8]), torch.Size([100, 5]))
"""

from __future__ import annotations

import networkx as nx
import pyro
import pyro.distributions as dist
import torch

from ..groups import Shift
from .analytic import linear_gaussian_solution
from .base import ShiftSimulator


class LinearGaussianSCM(ShiftSimulator):
    """A linear Gaussian SCM ``X = A X + U + i`` (column convention, ``A`` a DAG).

    :param A: ``(N, N)`` adjacency: ``A[j, k]`` is the effect of ``X_k`` on ``X_j``.
    :param target: index of the target variable, or a ``(N,)`` target map ``τ₀``
        (default: the last variable).
    :param intervened: indices of the intervened variables ``π(1)`` (default: all variables
        outside the support of ``τ₀``).
    :param noise_loc: means ``μ`` of ``U`` (scalar or ``(N,)``).
    :param noise_scale: standard deviations ``σ`` of ``U`` (scalar or ``(N,)``).
    :param intervention_scale: standard deviation of the shift interventions.

    A chain ``X0 → X1 → X2`` (target ``X2``); with (almost) no noise, ``Y = ωᵀ i`` exactly:

    >>> scm = LinearGaussianSCM([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]],
    ...                         noise_scale=1e-3)
    >>> scm.intervened, scm.solution()  # Proposition 3.3
    ([0, 1], (tensor([0., 3., 0.]), tensor([6., 3., 0.])))
    >>> data = scm.simulate(n_interventions=5, n_samples=4, seed=0)
    >>> data.x.shape
    torch.Size([5, 4, 3])
    >>> tau, omega = scm.solution()
    >>> torch.allclose(data.y, (data.interventions @ omega)[:, None], atol=0.05)
    True
    """

    def __init__(
        self,
        A,
        target=None,
        intervened=None,
        noise_loc=0.0,
        noise_scale=1.0,
        intervention_scale: float = 1.0,
    ):
        A = torch.as_tensor(A, dtype=torch.get_default_dtype())
        n = A.shape[0]
        if A.dim() != 2 or A.shape != (n, n):
            raise ValueError(f"A must be a square matrix, got shape {tuple(A.shape)}")
        graph = nx.DiGraph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from((k, j) for j, k in (A != 0).nonzero().tolist())
        if not nx.is_directed_acyclic_graph(graph):
            raise ValueError(
                "A must be acyclic (a DAG); for cyclic linear models use pce.equilibrate"
            )
        self.A, self.n_nodes, self.order = A, n, list(nx.topological_sort(graph))
        if target is None:
            target = n - 1
        tau0 = torch.as_tensor(target, dtype=A.dtype)
        if tau0.dim() == 0:
            index = int(target)
            if not 0 <= index < n:
                raise ValueError(f"target index {index} out of range [0, {n})")
            tau0 = torch.zeros(n, dtype=A.dtype)
            tau0[index] = 1.0
        if tau0.shape != (n,):
            raise ValueError(f"target must be an index or a ({n},) vector")
        self.tau0 = tau0
        if intervened is None:
            intervened = (tau0 == 0).nonzero().flatten().tolist()
        intervened = sorted(int(k) for k in torch.as_tensor(intervened).flatten().tolist())
        if not intervened or any(not 0 <= k < n for k in intervened):
            raise ValueError(f"intervened must be a non-empty list of indices in [0, {n})")
        on_target = [k for k in intervened if tau0[k] != 0]
        if on_target:
            raise ValueError(
                f"the target must not be intervened on: variable(s) {on_target} are in the "
                "support of the target map and in the intervened set"
            )
        self.intervened = intervened
        self.noise_loc = torch.as_tensor(noise_loc, dtype=A.dtype).expand(n)
        self.noise_scale = torch.as_tensor(noise_scale, dtype=A.dtype).expand(n)
        if bool((self.noise_scale <= 0).any()):
            raise ValueError("noise_scale must be positive")
        self.intervention_scale = float(intervention_scale)

    # ----- constructors (paper App. F.1: non-zero weights uniform in [-1, 1]) -----
    @classmethod
    def random(cls, n_nodes: int, seed: int | None = None, **kwargs) -> LinearGaussianSCM:
        """All lower-triangular edges (a complete DAG in topological order); target last."""
        weights = _uniform((n_nodes, n_nodes), seed)
        return cls(torch.tril(weights, -1), **kwargs)

    @classmethod
    def chain(cls, n_nodes: int, seed: int | None = None, **kwargs) -> LinearGaussianSCM:
        """``X_0 → X_1 → … → X_{N-1}``; target last."""
        A = torch.diag(_uniform((n_nodes - 1,), seed), -1)
        return cls(A, **kwargs)

    @classmethod
    def star(cls, n_nodes: int, seed: int | None = None, **kwargs) -> LinearGaussianSCM:
        """Every other variable is a parent of the target (last); no other edge."""
        A = torch.zeros(n_nodes, n_nodes)
        A[-1, :-1] = _uniform((n_nodes - 1,), seed)
        return cls(A, **kwargs)

    @classmethod
    def two_branch(
        cls, n_first: int = 4, n_second: int = 5, seed: int | None = None, **kwargs
    ) -> LinearGaussianSCM:
        """Two chains ``X_0 → … → X_{n1-1}`` and ``X_{n1} → … → X_{n1+n2-1}`` into the target
        (last); the branches are :attr:`groups` (paper App. F.2, Fig. 9)."""
        n = n_first + n_second + 1
        weights = _uniform((n,), seed)
        A = torch.zeros(n, n)
        for k in range(n_first - 1):
            A[k + 1, k] = weights[k]
        for k in range(n_first, n - 2):
            A[k + 1, k] = weights[k]
        A[-1, n_first - 1], A[-1, n - 2] = weights[-2], weights[-1]
        scm = cls(A, **kwargs)
        scm.groups = [list(range(n_first)), list(range(n_first, n - 1))]
        return scm

    # ----- masks, solution -----
    @property
    def intervened_mask(self) -> torch.Tensor:
        mask = torch.zeros(self.n_nodes, dtype=torch.bool)
        mask[self.intervened] = True
        return mask

    tau_mask = intervened_mask  # alignment π(1): τ reads the intervened variables
    omega_mask = intervened_mask

    def solution(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The analytic ``(τ, ω)`` of Proposition 3.3."""
        return linear_gaussian_solution(self.A, self.tau0, self.intervened)

    # ----- Pyro model and data -----
    def model(self) -> torch.Tensor:
        """The SCM as a Pyro model (sample sites ``"X0"`` … ``"X{N-1}"``); returns ``X``."""
        values: dict[int, torch.Tensor] = {}
        for k in self.order:
            loc = self.noise_loc[k]
            for j in (self.A[k] != 0).nonzero().flatten().tolist():
                loc = loc + self.A[k, j] * values[j]
            values[k] = pyro.sample(f"X{k}", dist.Normal(loc, self.noise_scale[k]))
        return torch.stack(torch.broadcast_tensors(*(values[k] for k in range(self.n_nodes))), -1)

    def sample_interventions(self, n_interventions: int) -> torch.Tensor:
        """``(I, N)`` draws of the intervention prior (zero outside the intervened set)."""
        i = torch.zeros(n_interventions, self.n_nodes, dtype=self.A.dtype)
        i[:, self.intervened] = self.intervention_scale * torch.randn(
            n_interventions, len(self.intervened), dtype=self.A.dtype
        )
        return i

    def shift_actions(self, interventions: torch.Tensor) -> dict:
        """``{"X{k}": pce.Shift(i_k)}`` on the intervened variables."""
        return {f"X{k}": Shift(interventions[:, k : k + 1]) for k in self.intervened}

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """``Y = τ₀ᵀ X``."""
        return x @ self.tau0


def _uniform(shape, seed: int | None) -> torch.Tensor:
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return (
        2
        * torch.rand(shape, generator=generator, dtype=torch.float64).to(torch.get_default_dtype())
        - 1
    )
