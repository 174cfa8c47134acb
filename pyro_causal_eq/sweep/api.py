"""``pce.sweep``: run a function over a grid of scenarios, serially or on dask.distributed,
checkpointed, resumable, assembled into one ``xarray.Dataset`` with named dimensions."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr

from . import grid as grids
from .checkpoint import PartStore, write_netcdf
from .executors import run_dask, run_serial
from .interrupts import terminate_as_interrupt


def assemble(dims, scenarios, parts: list[xr.Dataset]) -> xr.Dataset:
    """One Dataset of the scenario results: a product grid gets one dimension per axis (in
    grid order), a list of scenarios the dimension ``scenario`` with its parameters as
    coordinates.

    >>> parts = [xr.Dataset({"v": float(r) * d}) for r in (1, 2) for d in (0, 1)]
    >>> ds = assemble(("r", "d"), grids.expand({"r": [1, 2], "d": [0, 1]})[1], parts)
    >>> ds.v.dims, ds.v.values.tolist()
    (('r', 'd'), [[0.0, 1.0], [0.0, 2.0]])
    """
    if dims == ("scenario",):
        names = sorted({k for s in scenarios for k in s})
        ds = xr.concat(parts, dim="scenario", join="outer", combine_attrs="drop_conflicts")
        coords = {"scenario": np.arange(len(parts))}
        for name in names:
            values = [s.get(name, np.nan) for s in scenarios]
            coords[name] = ("scenario", values)
        return ds.assign_coords(coords)
    sizes = [len(dict.fromkeys(s[d] for s in scenarios)) for d in dims]
    expanded = [
        part.expand_dims({d: [s[d]] for d in dims})
        for part, s in zip(parts, scenarios, strict=True)
    ]
    nested = np.empty(sizes, dtype=object)
    for index, part in zip(np.ndindex(*sizes), expanded, strict=True):
        nested[index] = part
    return xr.combine_nested(
        nested.tolist(), concat_dim=list(dims), join="outer", combine_attrs="drop_conflicts"
    )


def sweep(
    fn: Callable[..., xr.Dataset],
    grid,
    output=None,
    *,
    scheduler=None,
    workers: int | None = None,
    retries: int = 2,
    fingerprint: dict | None = None,
    progress: bool = False,
    on_complete: Callable[[str, dict], None] | None = None,
) -> xr.Dataset:
    """Run ``fn(**scenario)`` for every scenario of ``grid`` and assemble one Dataset.

    Each finished scenario is checkpointed (atomically) in ``<output>.parts/``; a re-run with
    the same output skips the finished ones, and once every scenario is done the assembled
    Dataset is written to ``output`` (atomically: netCDF) and the checkpoints are removed. An
    interruption (exception, SIGINT, SIGTERM) leaves no ``output``, only checkpoints. With
    ``output=None`` nothing is kept on disk.

    :param fn: the scenario function, ``fn(**params) -> xarray.Dataset`` (or a dict of
        arrays); it must be importable (or picklable) on the workers and deterministic.
    :param grid: ``{"name": values, ...}`` (product of the axes; one dimension per name) or
        a list of scenario dicts (one dimension ``scenario``); values are strings or numbers.
    :param output: the netCDF file of the result (``None``: in memory only).
    :param scheduler: ``None`` (serial, in this process), ``"local"`` (a ``LocalCluster`` of
        ``workers`` processes started and closed here), a scheduler address
        (``"tcp://host:8786"``) or a ``distributed.Client``.
    :param workers: processes of the local cluster (default: the CPU count).
    :param retries: resubmissions of a scenario that raised or whose worker died.
    :param fingerprint: options of the sweep recorded with the checkpoints (a different
        sweep writing the same output is an error, not mixed in).
    :param progress: show a progress bar.
    :param on_complete: called as ``on_complete(key, params)`` after each checkpoint.
    :returns: the assembled Dataset (as read back from netCDF).

    >>> import pyro_causal_eq as pce
    >>> from pyro_causal_eq.sweep.examples import leontief_scenario
    >>> ds = pce.sweep(leontief_scenario, {"n": [3, 4], "seed": [0, 1]})
    >>> dict(ds.sizes)["n"], dict(ds.sizes)["seed"], float(ds.residual.max()) < 1e-12
    (2, 2, True)
    """
    dims, scenarios = grids.expand(grid)
    keys = [grids.key(s) for s in scenarios]
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__name__)}"
    description = {"fn": name, "dims": list(dims), "options": fingerprint or {}}
    if output is not None and Path(output).exists():
        return _existing(output, description)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(output) if output is not None else Path(scratch) / "sweep.nc"
        store = PartStore(target, description)
        finished = store.finished()
        todo = [(k, s) for k, s in zip(keys, scenarios, strict=True) if k not in finished]
        with terminate_as_interrupt(), _progress(progress, len(keys), len(finished)) as bar:

            def done(key, params):
                bar(1)
                if on_complete is not None:
                    on_complete(key, params)

            if scheduler is None:
                run_serial(fn, todo, store, done)
            else:
                run_dask(fn, todo, store, done, scheduler, workers, retries)
        ds = assemble(dims, scenarios, [store.load(k) for k in keys])
        ds.attrs["sweep"] = json.dumps(description, sort_keys=True, default=str)
        write_netcdf(ds, target)
        store.remove()
        return xr.load_dataset(target)


def _existing(output, description) -> xr.Dataset:
    ds = xr.load_dataset(output)
    wanted = json.dumps(json.loads(json.dumps(description, default=str)), sort_keys=True)
    if ds.attrs.get("sweep") != wanted:
        raise ValueError(
            f"{output} exists and was written by another sweep ({ds.attrs.get('sweep')!r}); "
            "delete it or choose another output"
        )
    return ds


@contextmanager
def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        yield lambda n: None
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, initial=initial, desc="sweep", unit="scenario") as bar:
        yield bar.update
