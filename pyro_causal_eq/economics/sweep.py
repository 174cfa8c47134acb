"""Trade-off sweeps over tables, regions, Monte Carlo draws of the tables (and a λ grid per
scenario) on :func:`pyro_causal_eq.sweep`: serial, ``LocalCluster`` or a cluster address."""

from __future__ import annotations

import functools
import json

import numpy as np
import xarray as xr

from ..sweep import sweep as run_sweep
from .io_model import IOModel

SOURCES = ("pymrio_test", "pymrio", "useeio", "exiobase")
#: region value meaning "the whole table" (USEEIO, or the full MRIO of a pymrio system)
ALL = "all"


def load_table(spec: dict, region: str) -> IOModel:
    """The model of one table spec at one region.

    :param spec: ``{"source": "pymrio_test"}`` (the pymrio test MRIO), ``{"source":
        "useeio", "path": DIR, "demand": ID}`` or ``{"source": "exiobase", "path": ZIP}``
        (``region`` is the country).
    :param region: a region / country, or ``"all"``.

    >>> load_table({"source": "pymrio_test"}, "reg2").n
    8
    """
    source = spec.get("source")
    if source == "pymrio_test":
        import pymrio

        return IOModel.from_pymrio(pymrio.load_test(), region=None if region == ALL else region)
    if source == "useeio":
        return IOModel.from_useeio(spec["path"], demand=spec.get("demand"))
    if source == "exiobase":
        return IOModel.from_exiobase(spec["path"], region)
    raise ValueError(f"table source must be one of {SOURCES[:1] + SOURCES[2:]}, got {source!r}")


@functools.lru_cache(maxsize=8)
def _cached(spec_json: str, region: str) -> IOModel:  # one load per worker process
    return load_table(json.loads(spec_json), region)


def perturbed(io: IOModel, draw: int, noise: tuple[float, float], seed: int = 0) -> IOModel:
    """Draw ``draw`` of the table: ``A`` and ``y`` times log-normal noise of log-scales
    ``noise = (σ_A, σ_y)``, seeded by ``(seed, draw)`` (draw-by-draw reproducible)."""
    sigma_a, sigma_y = map(float, noise)
    if sigma_a == 0 and sigma_y == 0:
        return io
    rng = np.random.default_rng([seed, draw])
    A = io.A * np.exp(sigma_a * rng.standard_normal(io.A.shape))
    y = io.y * np.exp(sigma_y * rng.standard_normal(io.n))
    return IOModel(
        A, y, io.R, io.indicators, io.sectors, units=io.units, regions=io.regions,
        ghg=io.default_ghg, social=io.default_social, name=f"{io.name} draw {draw}",
        output_unit=io.output_unit, sector_names=io.sector_names,
    )  # fmt: skip


def tradeoff_scenario(scenario: str, region: str, draw: int, *, tables, options) -> xr.Dataset:
    """One scenario of :func:`sweep`: the trade-off of a table at a region and draw (the
    wall-clock ``time`` is dropped so that reruns are identical)."""
    from .tradeoff import tradeoff

    spec = dict(tables[scenario])
    options = dict(options)
    noise, seed = options.pop("noise", (0.0, 0.0)), options.pop("seed", 0)
    io = perturbed(_cached(json.dumps(spec, sort_keys=True), str(region)), draw, noise, seed)
    ds = tradeoff(io, **options).to_xarray()
    ds = ds.drop_vars("time")
    if options.get("lambdas") is None:  # per-scenario default grid: index λ by position
        ds = ds.assign(lam_value=("lam", ds.lam.values)).assign_coords(
            lam=np.arange(ds.sizes["lam"])
        )
    return ds


def sweep(
    tables: dict,
    regions=(ALL,),
    lambdas=None,
    *,
    draws: int = 1,
    noise=(0.0, 0.0),
    seed: int = 0,
    output=None,
    scheduler=None,
    workers: int | None = None,
    retries: int = 2,
    progress: bool = False,
    **tradeoff_options,
) -> xr.Dataset:
    """Trade-off of every (table, region, draw), assembled with dimensions ``scenario``,
    ``region``, ``draw``, ``lam`` and ``sector``.

    :param tables: scenario name -> table spec (see :func:`load_table`).
    :param regions: regions (pymrio) or countries (Exiobase); ``"all"`` for the whole table.
    :param lambdas: the λ grid shared by all scenarios (``None``: each scenario's default
        grid; ``lam`` is then a position and ``lam_value`` the weight).
    :param draws: Monte Carlo draws of the tables (``draw = 0 .. draws - 1``).
    :param noise: ``(σ_A, σ_y)`` log-normal noise of the draws (``(0, 0)``: the table itself).
    :param seed: seed of the draws.
    :param output: netCDF file (checkpoints in ``<output>.parts/``; see
        :func:`pyro_causal_eq.sweep.api.sweep`).
    :param scheduler: ``None`` (serial), ``"local"``, an address or a ``distributed.Client``.
    :param workers: local cluster processes.
    :param retries: resubmissions of failed / lost scenarios.
    :param progress: show a progress bar.
    :param tradeoff_options: passed to :func:`~pyro_causal_eq.economics.tradeoff`
        (``method``, ``bounds``, ``branches``, ``penalty``, ...).

    >>> ds = sweep({"test": {"source": "pymrio_test"}}, ["reg1", "reg2"], [1.0, 100.0],
    ...            branches="local")
    >>> ds.ghg_change.dims
    ('scenario', 'region', 'draw', 'lam')
    """
    lams = None if lambdas is None else [float(v) for v in np.atleast_1d(lambdas)]
    options = dict(tradeoff_options, lambdas=lams, noise=tuple(map(float, noise)), seed=seed)
    fn = functools.partial(tradeoff_scenario, tables=dict(tables), options=options)
    grid = {"scenario": list(tables), "region": [str(r) for r in regions], "draw": range(draws)}
    fingerprint = {"tables": tables, "options": options}
    return run_sweep(
        fn, grid, output, scheduler=scheduler, workers=workers, retries=retries,
        fingerprint=fingerprint, progress=progress,
    )  # fmt: skip
