"""Signals during a sweep: SIGTERM stops it like SIGINT, and neither lands inside a file write.

A ``KeyboardInterrupt`` raised by a signal handler in the middle of ``Dataset.to_netcdf``
leaves xarray's (non-reentrant) file lock held, and the cleanup that follows waits on it
forever; so writes defer the signal and deliver it once the file is complete.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` (like SIGINT) inside the block, so both stop a
    sweep the same way: checkpoints kept, no final output.

    >>> with terminate_as_interrupt():
    ...     signal.getsignal(signal.SIGTERM).__name__
    'interrupt'
    """
    if not _in_main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _deliver(signum: int, handler) -> None:
    """Act on a deferred signal as its handler would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)  # default action, now that the handler is restored


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first one received.

    >>> try:
    ...     with deferred_interrupts():
    ...         os.kill(os.getpid(), signal.SIGINT)  # held until the block ends
    ...         print("write finished")
    ... except KeyboardInterrupt:
    ...     print("then interrupted")
    write finished
    then interrupted
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in _SIGNALS
    }
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if received:
        _deliver(received[0], previous[received[0]])
