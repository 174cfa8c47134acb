"""Checkpoints of a sweep: one netCDF file per finished scenario in ``<output>.parts/``, each
written atomically, with a manifest naming the sweep they belong to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import xarray as xr

from ..internals.atomic import atomic_write, atomic_write_text
from .interrupts import deferred_interrupts


def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` atomically, with a local file lock: with a distributed
    ``Client`` active xarray would otherwise lock through the scheduler (slow, and stuck
    when the client is interrupted)."""
    try:
        import dask
    except ImportError:  # no dask: xarray uses a local lock anyway
        dask = None
    # a signal inside to_netcdf would leave xarray's file lock held (a hang): defer it
    with deferred_interrupts():
        if dask is None:
            return atomic_write(path, lambda tmp: ds.to_netcdf(tmp))
        with dask.config.set(scheduler="synchronous"):
            return atomic_write(path, lambda tmp: ds.to_netcdf(tmp))


class PartStore:
    """The folder of finished scenarios of the sweep writing ``output``.

    :param output: the final netCDF file of the sweep.
    :param fingerprint: a JSON-able description of the sweep (function and options); a
        folder left by a different sweep is an error rather than silently mixed in.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     store = PartStore(f"{tmp}/out.nc", {"fn": "f"})
    ...     _ = store.save("k", xr.Dataset({"v": 1.0}))
    ...     sorted(store.finished()), float(store.load("k").v)
    (['k'], 1.0)
    """

    def __init__(self, output, fingerprint: dict):
        self.output = Path(output)
        self.folder = self.output.with_name(self.output.name + ".parts")
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        manifest = self.folder / "manifest.json"
        if manifest.exists():
            found = json.loads(manifest.read_text())
            if found != self.fingerprint:
                raise ValueError(
                    f"{self.folder} holds checkpoints of another sweep ({found}); delete it or "
                    "choose another output"
                )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(manifest, json.dumps(self.fingerprint, sort_keys=True))

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.nc"

    def finished(self) -> set[str]:
        """Keys of the scenarios already checkpointed."""
        return {p.stem for p in self.folder.glob("*.nc") if not p.name.startswith(".")}

    def save(self, key: str, ds: xr.Dataset) -> Path:
        """Checkpoint one scenario (atomically)."""
        return write_netcdf(ds, self.path(key))

    def load(self, key: str) -> xr.Dataset:
        return xr.load_dataset(self.path(key))

    def remove(self) -> None:
        """Delete the folder (after the assembled output is written)."""
        shutil.rmtree(self.folder, ignore_errors=True)
