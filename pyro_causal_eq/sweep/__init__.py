"""Scenario sweeps: ``pce.sweep(fn, grid, output=..., scheduler=None | "local" | ADDRESS)``.

Independent scenarios run serially in this process (default), on a ``dask.distributed``
``LocalCluster`` or on a cluster at a scheduler address; finished scenarios are checkpointed
and a re-run resumes; the results are one ``xarray.Dataset`` with a named dimension per grid
axis, written atomically as netCDF. Dask is the optional extra ``pyro_causal_eq[distributed]``.

The module itself is callable: ``pce.sweep(...)`` is :func:`~pyro_causal_eq.sweep.api.sweep`.
"""

import sys
import types

from .api import assemble, sweep
from .grid import expand


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["assemble", "expand", "sweep"]
