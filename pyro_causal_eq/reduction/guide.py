"""The TCR guide: a ``PyroModule`` holding the reduction maps and the high-level model.

Parameters (all registered in Pyro's param store, so ``pyro.get_param_store().save/load``
round-trips them):

- ``tau`` ``(n, N)``: rows ``τ_k`` of the reduction ``Z = T X`` (masked by ``tau_mask``);
- ``omega`` ``(n, D)``: rows ``ω_k`` of the intervention map ``ω(i) = W i`` (masked by
  ``omega_mask``);
- ``mu_z`` ``(n,)`` and positive ``sigma_z`` ``(n,)``: the high-level causes
  ``Z ~ N(μ_Z + W i, diag σ_Z²)``;
- ``a`` ``(n,)``, ``b`` ``()`` and positive ``sigma_y``: the high-level mechanism
  ``Y | Z ~ N(aᵀ Z + b, σ²_{Y|Z})``.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.nn import PyroModule, PyroParam

PARAM_NAMES = ("tau", "omega", "mu_z", "sigma_z", "a", "b", "sigma_y")


def _mask(mask, n_causes: int, size: int, name: str) -> torch.Tensor:
    if mask is None:
        return torch.ones(n_causes, size, dtype=torch.bool)
    mask = torch.as_tensor(mask).to(torch.bool)
    if mask.dim() == 1:
        mask = mask.expand(n_causes, -1)
    if mask.shape != (n_causes, size):
        raise ValueError(
            f"{name} must have shape ({size},) or ({n_causes}, {size}), got {tuple(mask.shape)}"
        )
    if not bool(mask.any(-1).all()):
        raise ValueError(f"{name} leaves a cause without any allowed variable")
    return mask.clone()


def _target_mask(target, n_low: int) -> torch.Tensor | None:
    if target is None:
        return None
    target = torch.as_tensor(target)
    if target.is_floating_point() and target.shape == (n_low,):
        mask = target != 0
    else:
        index = target.to(torch.long).flatten()
        if bool(((index < 0) | (index >= n_low)).any()):
            raise ValueError(f"target indices must lie in [0, {n_low})")
        mask = torch.zeros(n_low, dtype=torch.bool)
        mask[index] = True
    if not bool(mask.any()):
        raise ValueError("the target map is zero")
    return mask


class TCRGuide(PyroModule):
    """Linear targeted causal reduction with ``n`` high-level causes.

    Fit it as the guide of :class:`pyro.infer.SVI` with the model
    :func:`~pyro_causal_eq.reduction.data_model` and the loss
    :class:`~pyro_causal_eq.reduction.TCRLoss`, passing the data set to ``step``::

        svi = SVI(data_model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=TCRLoss())
        for _ in range(200):
            svi.step(data)  # data: an InterventionalData, e.g. scm.simulate(1000, 32)

    (runnable example in :class:`~pyro_causal_eq.reduction.TCRLoss`), or use
    :func:`~pyro_causal_eq.reduction.fit`. Read the maps from :attr:`T` and :attr:`W`. With
    several causes and no regularizer the split into causes is not unique; the effective cause
    ``aᵀZ`` (maps ``a @ T``, ``a @ W``) is what matches the one-cause solution (Prop. 3.3).

    :param n_low: number ``N`` of low-level variables (columns of ``X``).
    :param n_interventions: dimension ``D`` of the interventions (default ``N``).
    :param n_causes: number ``n`` of high-level causes.
    :param tau_mask: ``(N,)`` or ``(n, N)`` booleans: which low-level variables each cause may
        read (alignment ``π(k)``). Must exclude the variables that define the target.
    :param omega_mask: ``(D,)`` or ``(n, D)`` booleans: which interventions each cause absorbs.
    :param target: optional index, indices or ``(N,)`` target map ``τ₀`` of the target: ``τ``
        may not read its support (excluded from the default ``tau_mask`` and, for interventions
        aligned with ``X``, from the default ``omega_mask``; explicit masks that include it are
        an error), and :class:`TCRLoss` rejects data whose interventions shift it.
    :param init_scale: standard deviation of the random initial ``τ`` and ``ω`` entries.
    :param init: data-driven initialization applied at the first training step
        (``SVI.step`` with :class:`TCRLoss`, or :func:`~pyro_causal_eq.reduction.fit`), like
        Pyro's autoguides, which initialize on their first call: ``"auto"`` (default),
        ``"regression"``, ``"profile"`` or ``"none"`` (keep the random initialization); see
        :func:`~pyro_causal_eq.reduction.initialization.initialize`. Skipped when the
        parameters already existed in the param store (e.g. after ``load``) or were changed
        since construction; evaluating the loss never changes the guide.
    :param name: prefix of the parameter names in the param store.

    >>> guide = TCRGuide(3, tau_mask=[True, True, False])
    >>> guide.T.shape, guide.T[0, 2].item()
    (torch.Size([1, 3]), 0.0)
    >>> sorted(pyro.get_param_store().keys())[:2]
    ['tcr.a', 'tcr.b']
    """

    def __init__(
        self,
        n_low: int,
        n_interventions: int | None = None,
        n_causes: int = 1,
        tau_mask=None,
        omega_mask=None,
        target=None,
        init_scale: float = 1.0,
        init: str = "auto",
        name: str = "tcr",
    ):
        super().__init__(name)
        if init not in ("auto", "regression", "profile", "none"):
            raise ValueError(
                f"init must be 'auto', 'regression', 'profile' or 'none', got {init!r}"
            )
        self.init = init
        n_interventions = n_low if n_interventions is None else n_interventions
        store = pyro.get_param_store()
        self.initialized = init == "none" or f"{name}.tau" in store
        for key, shape in (("tau", (n_causes, n_low)), ("omega", (n_causes, n_interventions))):
            if f"{name}.{key}" in store and tuple(store[f"{name}.{key}"].shape) != shape:
                raise ValueError(
                    f"the param store already holds {name}.{key} with shape "
                    f"{tuple(store[f'{name}.{key}'].shape)}, not {shape}: call "
                    "pyro.clear_param_store() or give this guide another name="
                )
        for label, value in (("n_low", n_low), ("n_interventions", n_interventions)):
            if int(value) < 1:
                raise ValueError(f"{label} must be a positive integer, got {value}")
        if int(n_causes) < 1:
            raise ValueError(f"n_causes must be a positive integer, got {n_causes}")
        self.n_low, self.n_interventions, self.n_causes = n_low, n_interventions, n_causes
        self.target_mask = _target_mask(target, n_low)
        if self.target_mask is not None and tau_mask is None:
            tau_mask = ~self.target_mask
        if self.target_mask is not None and omega_mask is None and n_interventions == n_low:
            omega_mask = ~self.target_mask
        self.register_buffer("tau_mask", _mask(tau_mask, n_causes, n_low, "tau_mask"))
        self.register_buffer(
            "omega_mask", _mask(omega_mask, n_causes, n_interventions, "omega_mask")
        )
        if self.target_mask is not None:
            if bool((self.tau_mask & self.target_mask).any()):
                raise ValueError("tau_mask lets a cause read the target variable(s)")
            if n_interventions == n_low and bool((self.omega_mask & self.target_mask).any()):
                raise ValueError(
                    "the target must not be intervened on: omega_mask includes the target"
                )
        dtype = torch.get_default_dtype()
        self.tau = PyroParam(init_scale * torch.randn(n_causes, n_low, dtype=dtype))
        self.omega = PyroParam(init_scale * torch.randn(n_causes, n_interventions, dtype=dtype))
        self.mu_z = PyroParam(torch.zeros(n_causes, dtype=dtype))
        self.sigma_z = PyroParam(torch.ones(n_causes, dtype=dtype), constraints.positive)
        self.a = PyroParam(torch.ones(n_causes, dtype=dtype))
        self.b = PyroParam(torch.zeros((), dtype=dtype))
        self.sigma_y = PyroParam(torch.ones((), dtype=dtype), constraints.positive)
        self()  # register every parameter in the param store now
        self._start = self._unconstrained()

    def _unconstrained(self) -> dict[str, torch.Tensor]:
        self()  # sync with the param store
        return {key: getattr(self, key + "_unconstrained").detach().clone() for key in PARAM_NAMES}

    def untouched(self) -> bool:
        """Whether the parameters still hold their construction-time values."""
        now = self._unconstrained()
        return all(torch.equal(now[key], self._start[key]) for key in PARAM_NAMES)

    def _touch(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, key) for key in PARAM_NAMES}

    @property
    def T(self) -> torch.Tensor:
        """The masked reduction matrix ``T`` ``(n, N)``."""
        return self.tau * self.tau_mask.to(self.tau.dtype)

    @property
    def W(self) -> torch.Tensor:
        """The masked intervention map ``W`` ``(n, D)``."""
        return self.omega * self.omega_mask.to(self.omega.dtype)

    def forward(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        """The current parameters (masked ``tau`` and ``omega``) as a dict of tensors.

        Arguments are accepted and ignored, so the guide can take the model's arguments.
        """
        params = self._touch()
        params["tau"], params["omega"] = self.T, self.W
        return params

    def reduce(self, x: torch.Tensor) -> torch.Tensor:
        """The high-level causes ``Z = T X`` of low-level samples ``x`` ``(..., N)``."""
        return x @ self.T.T

    def high_level_model(self, interventions: torch.Tensor | None = None, n_samples: int = 1):
        """Sample the high-level model ``Z ~ N(μ_Z + W i, σ_Z²)``, ``Y | Z ~ N(aᵀZ + b, σ²)``.

        Records sample sites ``"Z"`` and ``"Y_high"``.

        :param interventions: ``(I, D)`` interventions (default: one unintervened row).
        :param n_samples: samples per intervention.
        :returns: ``(Z, Y)`` with shapes ``(I, S, n)`` and ``(I, S)``.
        """
        with torch.no_grad():
            p = self.forward()
            if interventions is None:
                interventions = torch.zeros(1, self.n_interventions, dtype=p["tau"].dtype)
            loc = p["mu_z"] + interventions @ p["omega"].T
            with pyro.plate("samples", n_samples, dim=-1):
                z = pyro.sample("Z", dist.Normal(loc.unsqueeze(-2), p["sigma_z"]).to_event(1))
                y = pyro.sample("Y_high", dist.Normal(z @ p["a"] + p["b"], p["sigma_y"]))
            return z, y

    def conditional_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The high-level mechanism's ``E[Y | Z = z] = aᵀ z + b``."""
        return z @ self.a + self.b
