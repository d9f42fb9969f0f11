"""Tests that need the machine to themselves, across every pytest session running on it.

Most tests wait on workers and I/O and run side by side (``pytest-xdist`` workers, or two
suites started at once). A few cannot: they assert a time bound that the acceptance of their
feature requires, or they build network namespaces and run whole multi-host fleets. Those carry
``@pytest.mark.exclusive``.

A readers-writer lock on files in ``OCTOLLM_TEST_LOCK_DIR`` (default: the system temp
directory, so it spans all suites on the machine) does it with ``flock``: every test holds the
lock shared while it runs, an exclusive test holds it exclusively. A writer first takes the
turnstile, so new readers queue behind it instead of starving it. ``flock`` locks go with the
process, so a killed session never leaves the lock held.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _lock_dir() -> Path:
    path = Path(os.environ.get("OCTOLLM_TEST_LOCK_DIR") or tempfile.gettempdir())
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open(name: str) -> int:
    # read-only is enough for flock, and works on a lock file another user's suite created
    return os.open(_lock_dir() / name, os.O_RDONLY | os.O_CREAT, 0o644)


@contextmanager
def holding(exclusive: bool) -> Iterator[None]:
    """Hold the machine's test lock: shared for an ordinary test, exclusive for the others."""
    turnstile = _open("octollm-tests.turnstile")
    lock = _open("octollm-tests.lock")
    try:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        if exclusive:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        os.close(lock)
        os.close(turnstile)
