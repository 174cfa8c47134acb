"""GHG / employment trade-off design over a sweep of ``λ`` (paper Sec. 5, eq. 5, Fig. 3b-c)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import EquilibriumError
from ..internals.convention import Progress, seeded
from .exact import solve_exact
from .gradient import adam_protocol, intervened_output, lbfgs_design
from .io_model import IOModel
from .objective import TradeoffObjective
from .sparse import spectral_radius_bound
from .tradeoff_dataset import tradeoff_dataset as _dataset
from .tradeoff_grid import front_lambdas
from .tradeoff_result import TradeoffResult

METHODS = ("exact", "gradient", "adam")
#: how the default λ grid is chosen for the L2 penalty (stored in the dataset, printed by the CLI)
GRID_NOTE = (
    "default (l2 penalty): log-spaced from the 10th percentile to the maximum of the "
    "per-sector ratios GHG intensity / social intensity (where sectors switch from cut to kept); "
    "override it "
    "with lambdas=... (CLI --lambdas)"
)


def _lambdas(lambdas) -> np.ndarray:
    values = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"lambdas must be a non-empty 1-d list of numbers, got {lambdas!r}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"lambdas must be finite and nonnegative, got {values.tolist()}")
    return values


def _bounds(bounds) -> tuple[float, float]:
    try:
        lo, hi = map(float, bounds)
    except (TypeError, ValueError):
        raise ValueError(f"bounds must be a pair (lo, hi) of numbers, got {bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0.0 <= lo <= hi):
        raise ValueError(f"bounds must be finite with 0 <= lo <= hi, got ({lo}, {hi})")
    return lo, hi


def equilibrium_output(io: IOModel, alpha: np.ndarray, target: str = "assignment", model=None):
    """``x(α)`` computed by the Pyro model (``pce.equilibrate`` under ``pce.do(Scale(α))``);
    by sparse LU for a sparse model."""
    if io.sparse:
        return io.equilibrium(alpha, target)
    model = model or io.model(dtype=torch.float64)
    factor = torch.as_tensor(alpha, dtype=torch.float64)
    with torch.no_grad():
        return intervened_output(model, factor, target).numpy()


def tradeoff(
    model: IOModel,
    lambdas=None,
    ghg: str | None = None,
    social: str | None = None,
    *,
    num_lambdas: int = 12,
    penalty: str = "l1",
    target: str = "assignment",
    bounds=(0.0, 2.0),
    method: str = "exact",
    steps: int = 20_000,
    lr: float = 1e-3,
    certify: bool = True,
    branches: str = "milp",
    seed: int | None = 0,
    progress=False,
) -> TradeoffResult:
    """Minimize ``cᵀx(α) + λ ||e(α) - e*||₁`` for each ``λ`` (paper eq. 5).

    ``x(α)`` is the equilibrium of the intervened Leontief model (``target="assignment"``:
    ``x_i := α_i (Ax + y)_i``; ``"demand"``: ``x = Ax + α ⊙ y``), ``c`` the GHG intensities,
    ``e = ε ⊙ x`` the employment (or value added) per sector.

    Methods: ``"exact"`` (default) solves the problem globally on the closed box by a change
    of variables to output space, a (mixed-integer) LP (see
    :mod:`pyro_causal_eq.economics.exact`; L1 penalties only; ``l2`` falls back to
    ``"gradient"``); ``"gradient"`` runs L-BFGS-B with implicit gradients from
    ``pce.equilibrate`` + ``pce.do`` + ``pce.Scale``, warm-started along the sweep (a local
    method: on USEEIO it stops up to ~0.1 % above the exact optimum at some ``λ``;
    ``certify`` reports the gap);
    ``"adam"`` is the paper's protocol (Adam, ``α = 2 sigmoid(d)``, ``steps`` steps, ``lr``),
    also warm-started. Final outputs ``x`` are computed with the Pyro model in every case.

    :param model: the economy (an :class:`IOModel`).
    :param lambdas: trade-off weights, solved in the given order (default ``None``: the
        adaptive grid of :func:`~pyro_causal_eq.economics.tradeoff_grid.front_lambdas`, from the
        strongest cut to the unintervened point without repeated designs).
    :param ghg: GHG indicator name (default: ``model.default_ghg``).
    :param social: socio-economic indicator (default: ``model.default_social``).
    :param num_lambdas: number of points of the default grid.
    :param penalty: ``"l1"`` (paper), ``"relative"`` (both terms relative to their baseline
        totals; unit-free ``λ``), ``"l2"`` (squared deviations).
    :param target: ``"assignment"`` (whole sector assignments) or ``"demand"`` (final demand
        only).
    :param method: ``"exact"``, ``"gradient"`` or ``"adam"`` (see above).
    :param steps: Adam steps per ``λ`` (``method="adam"``).
    :param lr: Adam learning rate.
    :param bounds: ``(lo, hi)`` of the factors, ``0 <= lo <= hi`` (default ``(0, 2)`` as in
        the paper). Above ``hi = 1 / ρ(|A|)`` outputs have no a-priori bound: the exact
        method then searches sign patterns within a heuristic box (``bound`` is ``-inf``) and
        raises :class:`~pyro_causal_eq.EquilibriumError` if its design is not a stable
        equilibrium.
    :param certify: for gradient methods with an L1 penalty, also solve exactly to report
        the optimality gap.
    :param branches: cone-pattern search of the exact solver: ``"milp"`` (default: global
        optimum with a certificate, ``bound`` = ``optimum``), ``"bound"`` or ``"local"``
        (faster, not certified); see :func:`~pyro_causal_eq.economics.exact.solve_exact`.
    :param seed: seed of the random stream during the call (``None``: left alone); the
        solvers are deterministic, the seed is there for the shared convention.
    :param progress: ``True`` for a progress bar (one step per ``λ``), or a tqdm bar to advance.
    :returns: a :class:`~pyro_causal_eq.economics.tradeoff_result.TradeoffResult`; its
        ``to_xarray()`` has dimension ``lam`` (and ``sector``): ``alpha``, ``x``, ``ghg``,
        ``social``, ``objective``, ``optimum``, ``optimality_gap``, ``stationarity``,
        ``ghg_change``, ``social_change``, ``social_sector``, ``time``; ``attrs["lambda_grid"]``
        says how the grid was chosen.

    >>> import pymrio
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> ds = tradeoff(io, [1e-3, 1e3]).to_xarray()
    >>> bool(ds.ghg_change[0] < ds.ghg_change[1] <= 0), float(ds.optimality_gap.max()) < 1e-6
    (True, True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    ghg, social = _indicators(model, ghg, social)
    objective = TradeoffObjective(model, ghg, social, penalty)
    if method == "adam" and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if method == "exact" and not objective.is_linear_program:
        method = "gradient"
    settings = _Settings(method, _bounds(bounds), target, branches, steps, lr, certify)
    with seeded(seed):
        lams, grid, hints = _grid(model, objective, lambdas, num_lambdas, settings)
        with Progress(progress, lams.size, f"trade-off ({method})") as bar:
            out = _sweep_lambdas(model, objective, lams, settings, bar, hints)
    ds = _dataset(model, objective, lams, out, method, target, settings.bounds, branches, grid)
    return TradeoffResult(ds, grid)


def _grid(io, objective, lambdas, num: int, settings):
    """The λ grid, the sentence saying how it was chosen and the grid search's designs."""
    if lambdas is not None:
        return _lambdas(lambdas), "given by the caller", None
    if not objective.is_linear_program:  # no exact solver to bracket the front with
        return objective.default_lambdas(num), GRID_NOTE, None
    grid = front_lambdas(io, objective, num, settings.bounds, settings.target)
    return grid.lambdas, grid.note, grid.alphas


@dataclass(frozen=True)
class _Settings:
    """The solver settings of one sweep."""

    method: str
    bounds: tuple[float, float]
    target: str
    branches: str
    steps: int
    lr: float
    certify: bool


def _indicators(io: IOModel, ghg, social) -> tuple[str, str]:
    """The GHG and social indicator names (defaults of the model), checked to exist."""
    ghg = ghg or io.default_ghg
    social = social or io.default_social
    if ghg is None or social is None:
        raise KeyError(
            f"choose the GHG and social indicators (ghg=..., social=...) among {io.indicators}"
        )
    io.indicator_index(ghg), io.indicator_index(social)
    return ghg, social


def _exact(io: IOModel, objective: TradeoffObjective, lam: float, settings: _Settings):
    return solve_exact(
        io.A, io.y, objective.w_c, objective.w, lam, settings.bounds, settings.target,
        branches=settings.branches,
    )  # fmt: skip


def _design(io, objective, lam: float, alpha_prev, settings: _Settings, hint=None):
    """The factors at ``λ`` by the chosen method (warm-started from the previous ``λ``) and
    the exact solution when it was computed."""
    target, bounds = settings.target, settings.bounds
    if settings.method == "exact":
        exact = _exact(io, objective, lam, settings)
        alpha = exact.alpha
        # the previous λ's design and the grid search's are feasible candidates too
        for candidate in (c for c in (hint, alpha_prev) if c is not None):
            value = objective.value(io.equilibrium(candidate, target), lam)
            if value < objective.value(io.equilibrium(alpha, target), lam):
                alpha = candidate
        return alpha, exact
    if settings.method == "gradient":
        alpha, _ = lbfgs_design(objective, lam, alpha0=alpha_prev, bounds=bounds, target=target)
        return alpha, None
    lo, hi = bounds
    d0 = None
    if alpha_prev is not None:
        p = np.clip((alpha_prev - lo) / (hi - lo), 1e-12, 1 - 1e-12)
        d0 = np.log(p / (1 - p))
    alpha, _ = adam_protocol(
        objective, lam, steps=settings.steps, lr=settings.lr, bounds=bounds, target=target, d0=d0
    )
    return alpha, None


def _checked_output(io: IOModel, alpha, target: str, model, lam: float) -> np.ndarray:
    """``x(α)`` by the model, or an :class:`EquilibriumError` saying which bound is safe."""
    try:
        return equilibrium_output(io, alpha, target, model)
    except EquilibriumError as error:
        safe = 1.0 / max(spectral_radius_bound(abs(sp.csr_matrix(io.A))), 1e-300)
        raise EquilibriumError(
            f"λ = {lam:.6g}: the design with factors up to {float(np.max(alpha)):.4g} is not "
            f"a stable equilibrium ({error}); with factor bounds hi < {safe:.4g} "
            "(= 1 / ρ(|A|)) every design is stable"
        ) from error


def _sweep_lambdas(io, objective, lams, settings: _Settings, bar: Progress, hints=None) -> dict:
    """Solve every ``λ`` in order; arrays of factors, outputs, objective, optimum, bound,
    stationarity and time per ``λ``."""
    model = None if io.sparse else io.model(dtype=torch.float64)
    n, k = io.n, lams.size
    out = {name: np.full((k, n), np.nan) for name in ("alpha", "x")}
    out |= {
        name: np.full(k, np.nan)
        for name in ("objective", "optimum", "bound", "stationarity", "time")
    }
    alpha_prev = None
    for j in range(k):
        lam = float(lams[j])
        start = time.perf_counter()
        hint = None if hints is None else hints[j]
        alpha, exact = _design(io, objective, lam, alpha_prev, settings, hint)
        x = _checked_output(io, alpha, settings.target, model, lam)
        out["time"][j] = time.perf_counter() - start
        out["alpha"][j], out["x"][j] = alpha + 0.0, x  # + 0.0: no -0 in the tables
        out["objective"][j] = objective.value(x, lam)
        if exact is None and settings.certify and objective.is_linear_program:
            exact = _exact(io, objective, lam, settings)
        if exact is not None:
            out["optimum"][j], out["bound"][j] = exact.value, exact.bound
        if settings.target == "assignment" and not io.sparse:  # dense Jacobian: not sparse
            out["stationarity"][j] = objective.stationarity(alpha, lam, settings.bounds)
        alpha_prev = alpha
        bar.update(loss=float(out["objective"][j]))
    return out
