"""Label alignment of a ``pymrio.IOSystem``: every table is put in the (region, sector) order of
the columns of ``A`` (or ``Z``) by label, never by position, before anything is computed.

pymrio itself combines ``Z``, ``Y`` and the extensions by position (``calc_x`` sums numpy
arrays), so a system whose ``Y`` rows are permuted would silently give another economy.
"""

from __future__ import annotations

import copy

import pandas as pd

from .validation import IOTableError

#: system tables indexed by (region, sector) on their rows
_ROW_TABLES = ("Z", "A", "L", "Y", "x")
#: extension tables indexed by (region, sector) on their columns
_EXT_TABLES = ("F", "S", "M")


def _shown(labels) -> str:
    labels = list(labels)
    more = f" ... ({len(labels)} in all)" if len(labels) > 4 else ""
    return ", ".join(map(repr, labels[:4])) + more


def reference_labels(iosystem) -> pd.Index:
    """The (region, sector) labels of the columns of ``A`` (or ``Z``), checked unique.

    :param iosystem: a ``pymrio.IOSystem``.
    :raises IOTableError: no ``Z`` / ``A``, not a (region, sector) MultiIndex, or duplicated
        labels.
    """
    table = iosystem.A if iosystem.A is not None else iosystem.Z
    if table is None or iosystem.Y is None:
        raise IOTableError("the pymrio system needs Z (or A) and Y")
    columns = table.columns
    if not isinstance(columns, pd.MultiIndex) or columns.nlevels < 2:
        raise IOTableError(
            "the pymrio system's Z / A columns must be a (region, sector) MultiIndex, got "
            f"{type(columns).__name__} {list(columns[:3])}"
        )
    _check_unique(columns, "columns of Z / A")
    return columns


def _check_unique(index: pd.Index, where: str) -> None:
    duplicated = index[index.duplicated()].unique()
    if len(duplicated):
        shown = _shown(duplicated)
        raise IOTableError(f"duplicated (region, sector) labels in the {where}: {shown}")


def _check_same(index: pd.Index, reference: pd.Index, where: str) -> None:
    _check_unique(index, where)
    missing, extra = reference.difference(index), index.difference(reference)
    if len(missing) or len(extra):
        parts = []
        if len(missing):
            parts.append(f"missing {_shown(missing)}")
        if len(extra):
            parts.append(f"unknown {_shown(extra)}")
        raise IOTableError(
            f"the (region, sector) labels of the {where} do not match the columns of Z / A: "
            + "; ".join(parts)
        )


def _aligned_rows(frame, reference, where):
    _check_same(frame.index, reference, where)
    return frame if frame.index.equals(reference) else frame.reindex(index=reference)


def _aligned_columns(frame, reference, where):
    _check_same(frame.columns, reference, where)
    return frame if frame.columns.equals(reference) else frame.reindex(columns=reference)


def align_system(iosystem):
    """A system whose tables all follow the order of the columns of ``A`` / ``Z`` by label.

    The input is left untouched: aligned tables go into a shallow copy (extensions copied
    too), and the same object is returned when everything is already in order.

    :param iosystem: a ``pymrio.IOSystem``.
    :raises IOTableError: duplicated labels, or rows / columns whose labels differ from the
        columns of ``A`` / ``Z`` (naming the missing and unknown ones).

    >>> import pymrio
    >>> io = pymrio.load_test()
    >>> io.Y = io.Y.iloc[::-1]
    >>> align_system(io).Y.index.equals(io.Z.columns)
    True
    """
    reference = reference_labels(iosystem)
    changes: dict = {}
    for name in _ROW_TABLES:
        frame = getattr(iosystem, name, None)
        if isinstance(frame, pd.DataFrame):
            aligned = _aligned_rows(frame, reference, f"rows of {name}")
            if name in ("Z", "A", "L"):
                aligned = _aligned_columns(aligned, reference, f"columns of {name}")
            if aligned is not frame:
                changes[name] = aligned
    ext_changes = {}
    for key, ext in zip(iosystem.get_extensions(), iosystem.get_extensions(data=True), strict=True):
        tables = {}
        for name in _EXT_TABLES:
            frame = getattr(ext, name, None)
            if isinstance(frame, pd.DataFrame):
                aligned = _aligned_columns(frame, reference, f"columns of {key}.{name}")
                if aligned is not frame:
                    tables[name] = aligned
        if tables:
            ext_changes[key] = tables
    if not changes and not ext_changes:
        return iosystem
    system = copy.copy(iosystem)
    for name, frame in changes.items():
        setattr(system, name, frame)
    for key, tables in ext_changes.items():
        ext = copy.copy(getattr(iosystem, key))
        for name, frame in tables.items():
            setattr(ext, name, frame)
        setattr(system, key, ext)
    return system
