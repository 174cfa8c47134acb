"""Writing a subcommand's output files: all or nothing, each file atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..internals.atomic import atomic_write


def write_folder(out, writers: Mapping[str, Callable[[str], object]]) -> list[Path]:
    """Write ``name -> writer(tmp_path)`` into a staging folder inside ``out``, then move the
    files in; on an error no new file is left (and a folder created here is removed).

    :param out: the output folder (created when missing; must not be a file).
    :param writers: file name -> function writing that file at the given path.
    :returns: the paths written.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write = lambda t: pathlib.Path(t).write_text("1")
    ...     paths = write_folder(pathlib.Path(tmp) / "o", {"a.txt": write})
    ...     [p.name for p in paths], paths[0].read_text()
    (['a.txt'], '1')
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} exists and is not a folder")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as staging:
            for name, write in writers.items():
                atomic_write(Path(staging) / name, write)
            written = []
            for name in writers:
                os.replace(Path(staging) / name, out / name)
                written.append(out / name)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return written


class float64:
    """Context manager: float64 default dtype and one thread, restored on exit."""

    def __enter__(self):
        self.dtype, self.threads = torch.get_default_dtype(), torch.get_num_threads()
        torch.set_default_dtype(torch.float64)
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        torch.set_default_dtype(self.dtype)
        torch.set_num_threads(self.threads)


def fmt(value: float) -> str:
    """A readable number: 4 significant digits, exact zeros as ``0``."""
    value = float(value)
    return "0" if abs(value) < 1e-300 else f"{value:.4g}"
