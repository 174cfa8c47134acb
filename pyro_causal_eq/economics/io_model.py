"""The input-output model object: ``x = A x + y``, impacts ``s = R x``, labels and units."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyro
import pyro.distributions as dist
import scipy.sparse as sp
import torch

from ..ops import equilibrate
from .sparse import solve
from .validation import IOTableError, check_table


class IOModel:
    """A demand-driven (Leontief) input-output economy with impact indicators.

    ``A[i, j]`` is the input of product ``i`` per unit output of sector ``j``; ``y`` the final
    demand; ``R[k, j]`` the impact ``k`` per unit output of sector ``j``. The equilibrium is
    ``x = (I - A)⁻¹ y``; impacts are ``s = R x``. Build it directly or with a loader
    (:meth:`from_pymrio`, :meth:`from_useeio`, :meth:`from_exiobase`).

    :param A: technical coefficients, ``(n, n)``: dense, or scipy.sparse / torch sparse
        (kept sparse: equilibria and trade-offs then use sparse LU and sparse LPs).
    :param y: final demand, ``(n,)``.
    :param R: indicator intensities, ``(k, n)``.
    :param indicators: ``k`` indicator names (rows of ``R``).
    :param sectors: ``n`` sector labels.
    :param units: indicator name -> unit.
    :param q: observed gross output (the table's own equilibrium), optional.
    :param regions: region label of each sector, optional.
    :param ghg: name of the default environmental indicator (GHG).
    :param social: name of the default socio-economic indicator (employment or value added).
    :param name: a label for reports.
    :param output_unit: unit of ``x`` and ``y``.
    :param sector_names: descriptive sector names (default: the labels).

    >>> io = IOModel([[0.1, 0.2], [0.3, 0.1]], [1.0, 2.0], [[1.0, 0.5], [2.0, 1.0]],
    ...              indicators=["GHG", "JOBS"], sectors=["a", "b"])
    >>> io.equilibrium().round(4)
    array([1.7333, 2.8   ])
    >>> io.impacts().round(4)
    array([3.1333, 6.2667])
    """

    def __init__(
        self,
        A,
        y,
        R,
        indicators: Sequence[str] | None = None,
        sectors: Sequence[str] | None = None,
        *,
        units: dict[str, str] | None = None,
        q=None,
        regions: Sequence[str] | None = None,
        ghg: str | None = None,
        social: str | None = None,
        name: str = "io",
        output_unit: str = "",
        sector_names: Sequence[str] | None = None,
    ):
        A, y, R, q = check_table(A, y, R, q, sectors, indicators)
        self.A, self.y, self.R, self.q = A, y, R, q
        self.n = A.shape[0]
        #: ``A`` is a scipy CSR matrix (sparse LU everywhere, see :mod:`.sparse`)
        self.sparse = sp.issparse(A)
        self.sectors = list(sectors) if sectors is not None else [f"s{i}" for i in range(self.n)]
        self.sector_names = list(sector_names) if sector_names is not None else list(self.sectors)
        if len(self.sector_names) != self.n:
            raise IOTableError(f"{len(self.sector_names)} sector names for {self.n} sectors")
        names = indicators if indicators is not None else [f"i{k}" for k in range(R.shape[0])]
        self.indicators = [str(k) for k in names]
        if len(set(self.indicators)) != len(self.indicators):
            raise IOTableError(f"indicator names are not unique: {self.indicators}")
        self.units = dict(units or {})
        self.regions = list(regions) if regions is not None else None
        self.name = name
        self.output_unit = output_unit
        self.default_ghg = ghg if ghg is not None else self._guess(("GHG", "emission", "CO2"))
        self.default_social = (
            social if social is not None else self._guess(("JOBS", "employ", "VADD", "value"))
        )

    # -- labels ------------------------------------------------------------------------------
    def _guess(self, keys: tuple[str, ...]) -> str | None:
        for key in keys:
            for name in self.indicators:
                if key.lower() in name.lower():
                    return name
        return None

    def indicator_index(self, name: str) -> int:
        """Row of ``R`` of an indicator, by exact name (or unique case-insensitive match).

        :raises KeyError: naming the known indicators.
        """
        if name in self.indicators:
            return self.indicators.index(name)
        matches = [i for i, k in enumerate(self.indicators) if k.lower() == str(name).lower()]
        if len(matches) == 1:
            return matches[0]
        raise KeyError(f"unknown indicator {name!r}; known indicators: {self.indicators}")

    def intensity(self, name: str) -> np.ndarray:
        """Row of ``R`` for the indicator ``name``."""
        return self.R[self.indicator_index(name)]

    # -- equilibrium -------------------------------------------------------------------------
    def equilibrium(self, alpha=None, target: str = "assignment") -> np.ndarray:
        """``x`` solving the (intervened) Leontief system in closed form (numpy, float64).

        :param alpha: factors (``None``: no intervention).
        :param target: ``"assignment"`` (``x = α ⊙ (A x + y)``) or ``"demand"``
            (``x = A x + α ⊙ y``).
        """
        if alpha is None:
            return solve(self.A, self.y)
        alpha = np.asarray(alpha, dtype=np.float64)
        if target == "assignment":
            return solve(self.A, alpha * self.y, alpha)
        if target == "demand":
            return solve(self.A, alpha * self.y)
        raise ValueError(f"target must be 'assignment' or 'demand', got {target!r}")

    def impacts(self, x=None) -> np.ndarray:
        """Totals ``R x`` (at the unintervened equilibrium by default)."""
        return self.R @ (self.equilibrium() if x is None else np.asarray(x))

    def validate_output(self) -> float:
        """Relative L1 error ``||x - q||₁ / ||q||₁`` of the computed equilibrium against the
        table's observed output ``q``.

        :raises IOTableError: when the table carries no output vector.
        """
        if self.q is None:
            raise IOTableError(f"{self.name}: the table has no observed output q to compare")
        x = self.equilibrium()
        return float(np.abs(x - self.q).sum() / np.abs(self.q).sum())

    # -- Pyro model --------------------------------------------------------------------------
    def model(self, *, prior_scale: tuple[float, float] | None = None, dtype=None, device=None):
        """The Leontief SSCM as a Pyro model on :func:`~pyro_causal_eq.equilibrate`.

        Sites: ``A`` and ``y`` (deterministic; sample sites ``A_noise`` / ``y_noise`` of
        multiplicative log-normal noise when ``prior_scale=(σ_A, σ_y)`` is given), the
        equilibrium node ``x`` of the system ``"economy"``, and deterministic ``impacts``
        (``R x``, one entry per indicator) and ``sector_impacts`` (``R ⊙ x``). Intervene with
        :func:`~pyro_causal_eq.do`: ``{"x": pce.Scale(α)}`` scales whole sector assignments,
        ``{"y": pce.Scale(α)}`` final demand only, ``{"A": pce.Scale(α)}`` technical
        coefficients (see :mod:`pyro_causal_eq.economics.interventions`).

        :param prior_scale: ``(σ_A, σ_y)`` log-scale of multiplicative noise on ``A`` and ``y``.
        :returns: a model ``() -> x``.

        >>> import pyro_causal_eq as pce
        >>> io = IOModel([[0.1, 0.2], [0.3, 0.1]], [1.0, 2.0], [[1.0, 0.5]], indicators=["GHG"])
        >>> model = io.model(dtype=torch.float64)
        >>> with pce.do(actions={"x": pce.Scale(torch.tensor([0.5, 1.0]))}):
        ...     x = model()
        >>> x.numpy().round(4)  # x_0 = 0.5 (0.1 x_0 + 0.2 x_1 + 1)
        array([0.7879, 2.4848])
        """
        dtype = dtype or torch.get_default_dtype()
        if self.sparse:
            return self._sparse_model(dtype, device, prior_scale)
        A0 = torch.tensor(self.A, dtype=dtype, device=device)
        y0 = torch.tensor(self.y, dtype=dtype, device=device)
        R = torch.tensor(self.R, dtype=dtype, device=device)
        init = torch.tensor(self.equilibrium(), dtype=dtype, device=device)

        def leontief_model():
            if prior_scale is not None:
                sigma_a, sigma_y = prior_scale
                noise_a = pyro.sample(
                    "A_noise", dist.LogNormal(torch.zeros_like(A0), sigma_a).to_event(2)
                )
                noise_y = pyro.sample(
                    "y_noise", dist.LogNormal(torch.zeros_like(y0), sigma_y).to_event(1)
                )
                A = pyro.deterministic("A", A0 * noise_a, event_dim=2)
                y = pyro.deterministic("y", y0 * noise_y, event_dim=1)
            else:
                A = pyro.deterministic("A", A0, event_dim=2)
                y = pyro.deterministic("y", y0, event_dim=1)

            def supply(x):
                return (A @ x.unsqueeze(-1)).squeeze(-1) + y

            x = equilibrate("economy", {"x": supply}, init={"x": init}, event_dims={"x": 1})["x"]
            pyro.deterministic("impacts", (R @ x.unsqueeze(-1)).squeeze(-1), event_dim=1)
            pyro.deterministic("sector_impacts", R * x.unsqueeze(-2), event_dim=2)
            return x

        return leontief_model

    def _sparse_model(self, dtype, device, prior_scale):
        """The Leontief model with a torch sparse CSR ``A`` (unbatched ``x``; no noise)."""
        if prior_scale is not None:
            raise ValueError("prior_scale (noise on A) needs a dense A: use A.toarray()")
        coo = self.A.tocoo()
        indices = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.int64)
        A = torch.sparse_coo_tensor(
            indices, coo.data, coo.shape, dtype=dtype, device=device, check_invariants=True
        ).coalesce()
        y = torch.tensor(self.y, dtype=dtype, device=device)
        R = torch.tensor(self.R, dtype=dtype, device=device)
        init = torch.tensor(self.equilibrium(), dtype=dtype, device=device)

        def leontief_model():
            def supply(x):
                return (A @ x.unsqueeze(-1)).squeeze(-1) + y

            x = equilibrate("economy", {"x": supply}, init={"x": init}, event_dims={"x": 1})["x"]
            pyro.deterministic("impacts", R @ x, event_dim=1)
            return x

        return leontief_model

    def __repr__(self) -> str:
        return (
            f"IOModel({self.name!r}, {self.n} sectors, indicators={self.indicators[:6]}"
            f"{'...' if len(self.indicators) > 6 else ''}, ghg={self.default_ghg!r}, "
            f"social={self.default_social!r})"
        )

    # -- loaders (defined in loaders modules) ------------------------------------------------
    @classmethod
    def from_pymrio(cls, iosystem, region=None, **kwargs) -> IOModel:
        """See :func:`pyro_causal_eq.economics.pymrio_loader.from_pymrio`."""
        from .pymrio_loader import from_pymrio

        return from_pymrio(iosystem, region=region, **kwargs)

    @classmethod
    def from_useeio(cls, folder, demand=None, **kwargs) -> IOModel:
        """See :func:`pyro_causal_eq.economics.useeio.from_useeio`."""
        from .useeio import from_useeio

        return from_useeio(folder, demand=demand, **kwargs)

    @classmethod
    def from_exiobase(cls, path, country, **kwargs) -> IOModel:
        """See :func:`pyro_causal_eq.economics.exiobase.from_exiobase`."""
        from .exiobase import from_exiobase

        return from_exiobase(path, country, **kwargs)
