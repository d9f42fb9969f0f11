"""Running a suspect step alone in its process (the quarantine lane of a thread or gevent pool).

When a worker process dies with several steps in it, the death cannot be pinned on one of
them: they all become suspects (``store.claims.attribute_deaths``) and their attempts are given
back. A suspect's next attempt runs **alone** in whatever process claims it: every delivery
passes this process-wide gate before it claims (``shared``); a suspect, once claimed, leaves
the shared side and waits until no other attempt runs in the process (``alone``), and while it
waits or runs, no new delivery claims. If the suspect kills the process now, it was alone in
it and the death counts against it; if it finishes, it was innocent. On a prefork pool every
child runs one step at a time, so the gate never waits.

Deliveries held at the gate have claimed nothing: if the suspect kills the process, their
messages are redelivered (or their steps re-driven) without an attempt counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Gate:
    """Many attempts at once (``shared``), or one alone (``alone``, inside ``shared``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._alone = False
        self._waiting_alone = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._alone or self._waiting_alone:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Called inside ``shared``: give up the shared slot, run with nothing else, take the
        slot back."""
        with self._cond:
            self._active -= 1
            self._waiting_alone += 1
            self._cond.notify_all()
            while self._alone or self._active:
                self._cond.wait()
            self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._active += 1
                self._cond.notify_all()


#: This process's gate (a forked child gets a fresh copy of an idle gate).
gate = Gate()
