"""GHG / employment trade-off design over a sweep of ``λ`` (paper Sec. 5, eq. 5, Fig. 3b-c)."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import torch
import xarray as xr

from ..errors import EquilibriumError
from .exact import solve_exact
from .gradient import adam_protocol, intervened_output, lbfgs_design
from .io_model import IOModel
from .objective import TradeoffObjective
from .sparse import spectral_radius_bound

METHODS = ("exact", "gradient", "adam")


def _lambdas(lambdas, objective: TradeoffObjective) -> np.ndarray:
    if lambdas is None:
        return objective.default_lambdas()
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
    io_model: IOModel,
    lambdas=None,
    ghg: str | None = None,
    social: str | None = None,
    *,
    penalty: str = "l1",
    target: str = "assignment",
    bounds=(0.0, 2.0),
    method: str = "exact",
    steps: int = 20_000,
    lr: float = 1e-3,
    certify: bool = True,
    branches: str = "milp",
    progress: bool = False,
) -> xr.Dataset:
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

    :param io_model: the economy.
    :param lambdas: trade-off weights (default: 12 log-spaced over the range where the
        trade-off moves, :meth:`TradeoffObjective.default_lambdas`); solved in the given order.
    :param ghg: GHG indicator name (default: ``io_model.default_ghg``).
    :param social: socio-economic indicator (default: ``io_model.default_social``).
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
    :param progress: show a progress bar.
    :returns: dataset with dimension ``lam`` (and ``sector``): ``alpha``, ``x``, ``ghg``,
        ``social``, ``objective``, ``optimum``, ``optimality_gap``, ``stationarity``,
        ``ghg_change``, ``social_change``, ``social_sector``, ``time``.

    >>> import pymrio
    >>> io = IOModel.from_pymrio(pymrio.load_test(), region="reg1")
    >>> ds = tradeoff(io, [1e-3, 1e3])
    >>> bool(ds.ghg_change[0] < ds.ghg_change[1] <= 0), float(ds.optimality_gap.max()) < 1e-6
    (True, True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    ghg = ghg or io_model.default_ghg
    social = social or io_model.default_social
    if ghg is None or social is None:
        raise KeyError(
            f"choose the GHG and social indicators (ghg=..., social=...) among "
            f"{io_model.indicators}"
        )
    io_model.indicator_index(ghg), io_model.indicator_index(social)
    objective = TradeoffObjective(io_model, ghg, social, penalty)
    lams = _lambdas(lambdas, objective)
    bounds = _bounds(bounds)
    if method == "adam" and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if method == "exact" and not objective.is_linear_program:
        method = "gradient"
    model = None if io_model.sparse else io_model.model(dtype=torch.float64)
    n, k = io_model.n, lams.size
    out = {name: np.full((k, n), np.nan) for name in ("alpha", "x")}
    out |= {
        name: np.full(k, np.nan)
        for name in ("objective", "optimum", "bound", "stationarity", "time")
    }
    iterator = range(k)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"trade-off ({method})", unit="λ")
    alpha_prev = None
    lo, hi = bounds

    def solve_exact_at(lam: float):
        return solve_exact(
            io_model.A,
            io_model.y,
            objective.w_c,
            objective.w,
            lam,
            bounds,
            target,
            branches=branches,
        )

    for j in iterator:
        lam = float(lams[j])
        start = time.perf_counter()
        exact = None
        if method == "exact":
            exact = solve_exact_at(lam)
            alpha = exact.alpha
            if alpha_prev is not None:  # the previous λ's design is a feasible candidate too
                previous = objective.value(io_model.equilibrium(alpha_prev, target), lam)
                if previous < objective.value(io_model.equilibrium(alpha, target), lam):
                    alpha = alpha_prev
        elif method == "gradient":
            alpha, _ = lbfgs_design(objective, lam, alpha0=alpha_prev, bounds=bounds, target=target)
        else:
            d0 = None
            if alpha_prev is not None:
                p = np.clip((alpha_prev - lo) / (hi - lo), 1e-12, 1 - 1e-12)
                d0 = np.log(p / (1 - p))
            alpha, _ = adam_protocol(
                objective, lam, steps=steps, lr=lr, bounds=bounds, target=target, d0=d0
            )
        try:
            x = equilibrium_output(io_model, alpha, target, model)
        except EquilibriumError as error:
            safe = 1.0 / max(spectral_radius_bound(abs(sp.csr_matrix(io_model.A))), 1e-300)
            raise EquilibriumError(
                f"λ = {lam:.6g}: the design with factors up to {float(np.max(alpha)):.4g} is not "
                f"a stable equilibrium ({error}); with factor bounds hi < {safe:.4g} "
                "(= 1 / ρ(|A|)) every design is stable"
            ) from error
        out["time"][j] = time.perf_counter() - start
        out["alpha"][j], out["x"][j] = alpha + 0.0, x  # + 0.0: no -0 in the tables
        out["objective"][j] = objective.value(x, lam)
        if exact is None and certify and objective.is_linear_program:
            exact = solve_exact_at(lam)
        if exact is not None:
            out["optimum"][j] = exact.value
            out["bound"][j] = exact.bound
        if target == "assignment" and not io_model.sparse:  # dense Jacobian: not for sparse
            out["stationarity"][j] = objective.stationarity(alpha, lam, bounds)
        alpha_prev = alpha
    return _dataset(io_model, objective, lams, out, method, target, bounds, branches)


def _dataset(io, objective, lams, out, method, target, bounds, branches) -> xr.Dataset:
    c, eps = objective.c, objective.eps
    x = out["x"]
    ghg, social = x @ c, x @ eps
    deviation = np.abs(eps * (x - objective.x0)).sum(axis=1)
    scale = np.maximum(np.abs(out["optimum"]), 1e-300)
    dims = ("lam", "sector")
    coords = {"lam": lams, "sector": io.sectors, "sector_name": ("sector", io.sector_names)}
    units = io.units
    ds = xr.Dataset(
        {
            "alpha": (dims, out["alpha"], {"long_name": "intervention factor"}),
            "x": (dims, x, {"long_name": "output", "units": io.output_unit}),
            "social_sector": (dims, eps * x, {"units": units.get(objective.social, "")}),
            "ghg": (
                "lam",
                ghg,
                {"long_name": objective.ghg, "units": units.get(objective.ghg, "")},
            ),
            "social": (
                "lam",
                social,
                {"long_name": objective.social, "units": units.get(objective.social, "")},
            ),
            "ghg_change": ("lam", ghg / objective.ghg0 - 1.0, {"long_name": "relative change"}),
            "social_change": (
                "lam",
                social / objective.social0 - 1.0,
                {"long_name": "relative change"},
            ),
            "social_deviation": ("lam", deviation, {"long_name": "||e - e*||_1"}),
            "objective": ("lam", out["objective"]),
            "optimum": ("lam", out["optimum"], {"long_name": "LP optimum, NaN if none"}),
            "bound": (
                "lam",
                out["bound"],
                {"long_name": "lower bound over all cone patterns (-inf: not computed)"},
            ),
            "optimality_gap": ("lam", (out["objective"] - out["optimum"]) / scale),
            "stationarity": (
                "lam",
                out["stationarity"],
                {"long_name": "relative projected-subgradient norm"},
            ),
            "time": ("lam", out["time"], {"units": "s"}),
            "x0": ("sector", objective.x0),
            "social0_sector": ("sector", objective.e0),
        },
        coords=coords,
        attrs={
            "model": io.name,
            "ghg_indicator": objective.ghg,
            "social_indicator": objective.social,
            "penalty": objective.penalty,
            "target": target,
            "method": method,
            "branches": branches if method == "exact" else "",
            "bounds": list(map(float, bounds)),
            "ghg0": objective.ghg0,
            "social0": objective.social0,
        },
    )
    return ds
