"""The conventions shared by the entry points (``optimize``, ``economics.tradeoff``,
``invariance.learn_invariant_intervention``, ``reduction.fit``).

- ``seed``: ``None`` leaves the random streams alone; an integer forks the torch stream and
  seeds it for the duration of the call (:func:`seeded`), so a call is reproducible and the
  caller's stream is not advanced.
- ``progress``: ``False`` / ``None`` silent; ``True`` a tqdm bar of the call's steps; a tqdm bar
  is updated in place (and left open), for nesting several calls under one bar
  (:class:`Progress`).
- Old spellings warn once per call site with a :class:`DeprecationWarning` naming the new one
  (:func:`deprecated`) and keep working for one release.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings

import torch

REMOVAL = "0.3.0"


@contextlib.contextmanager
def seeded(seed: int | None):
    """Fork the CPU random state and seed it (no-op for ``seed=None``).

    :param seed: the seed, or ``None`` to leave the random state alone.

    >>> with seeded(0):
    ...     a = torch.rand(())
    >>> with seeded(0):
    ...     b = torch.rand(())
    >>> bool(a == b)
    True
    """
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer or None, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


class Progress:
    """The ``progress`` argument of an entry point, as a bar to advance step by step.

    :param progress: ``False`` / ``None`` (no bar), ``True`` (a new tqdm bar, closed at the
        end) or an existing tqdm bar (advanced, left open).
    :param total: number of steps of the new bar.
    :param desc: label of the new bar.

    >>> with Progress(False, 10, "fit") as bar:
    ...     bar.update(loss=1.0)  # a no-op without a bar
    >>> bar.bar is None
    True
    """

    def __init__(self, progress, total: int | None, desc: str):
        self.owned = progress is True
        if progress is None or progress is False:
            self.bar = None
        elif progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False)
        elif hasattr(progress, "update"):
            self.bar = progress
        else:
            raise TypeError(f"progress must be True, False, None or a tqdm bar, got {progress!r}")

    def update(self, n: int = 1, loss: float | None = None) -> None:
        """Advance by ``n`` steps and show the current ``loss``."""
        if self.bar is None:
            return
        self.bar.update(n)
        if loss is not None and hasattr(self.bar, "set_postfix"):
            self.bar.set_postfix(loss=f"{loss:.6g}", refresh=False)

    def close(self) -> None:
        if self.owned and self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that the spelling ``old`` is deprecated in favour of ``new``.

    :param old: the old spelling, e.g. ``"fit(model, guide, data)"``.
    :param new: the new spelling, e.g. ``"fit(model, guide, args=(data,))"``.
    :param stacklevel: frame of the warning (3: the caller of the entry point).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     deprecated("f(x, 1)", "f(x, steps=1)", stacklevel=2)
    >>> caught[0].category.__name__, "steps=1" in str(caught[0].message)
    ('DeprecationWarning', True)
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in {REMOVAL}; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
