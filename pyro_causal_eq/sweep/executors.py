"""Where the scenarios run: in-process (serial) or on ``dask.distributed`` (a ``LocalCluster``
started on request, a scheduler address, or a given ``Client``). Each finished scenario is
checkpointed by the client as it completes; workers only compute."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from contextlib import contextmanager

import xarray as xr

from .checkpoint import PartStore


def run_scenario(fn: Callable, params: dict) -> xr.Dataset:
    """``fn(**params)`` as a Dataset, on one thread (what a worker executes)."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    result = fn(**params)
    if isinstance(result, dict):
        result = xr.Dataset(result)
    if not isinstance(result, xr.Dataset):
        raise TypeError(
            f"the sweep function must return an xarray.Dataset or a dict of arrays, got "
            f"{type(result).__name__} for scenario {params}"
        )
    return result


def run_serial(fn, todo, store: PartStore, on_complete) -> None:
    """Run the scenarios one after another in this process."""
    for key, params in todo:
        store.save(key, run_scenario(fn, params))
        on_complete(key, params)


@contextmanager
def dask_client(scheduler, workers: int | None, retries: int):
    """A ``distributed.Client``: the given one, one on a new ``LocalCluster``
    (``scheduler="local"``; ``workers`` processes of one thread, quiet logs, no dashboard), or
    one connected to a scheduler address. Clients and clusters started here are closed."""
    import dask
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        n = workers or os.cpu_count() or 1
        # a task whose worker died is resubmitted up to `allowed-failures` times
        with dask.config.set({"distributed.scheduler.allowed-failures": max(retries, 0) + 1}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
        return
    if not isinstance(scheduler, str) or ":" not in scheduler:
        raise ValueError(
            'scheduler must be None (serial, in this process), "local" (a LocalCluster), a '
            "scheduler address such as 'tcp://host:8786', or a dask.distributed.Client; got "
            f"{scheduler!r}"
        )
    with Client(scheduler) as client:
        yield client


def run_dask(fn, todo, store: PartStore, on_complete, scheduler, workers, retries) -> None:
    """Submit every scenario, checkpoint each result as it arrives."""
    from distributed import as_completed

    with dask_client(scheduler, workers, retries) as client:
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                run_scenario,
                fn,
                params,
                key=f"pce-sweep-{token}-{key}",
                retries=retries,
                pure=False,
            ): (key, params)
            for key, params in todo
        }
        try:
            for future in as_completed(futures):
                key, params = futures[future]
                store.save(key, future.result())
                future.release()
                on_complete(key, params)
        finally:
            client.cancel(list(futures))
