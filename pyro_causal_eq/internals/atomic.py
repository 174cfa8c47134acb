"""Atomic file writes: a temporary file in the target's folder, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, then rename it to
    ``path`` (no partial file is ever visible under ``path``).

    :param path: the final file (its folder is created).
    :param write: ``write(tmp_path)`` writes the content.
    :returns: ``path``.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = atomic_write(pathlib.Path(folder) / "a.txt", lambda t: open(t, "w").write("hi"))
    ...     out.read_text(), sorted(p.name for p in out.parent.iterdir())
    ('hi', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`).

    :param path: the final file.
    :param text: its content.
    :returns: ``path``.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     atomic_write_text(pathlib.Path(folder) / "r.md", "# table").read_text()
    '# table'
    """
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))
