"""Running a suspect step alone: the quarantine lane, and the in-process gate behind it.

When a worker process dies with several steps in it, the death cannot be pinned on one of
them: they all become suspects (``store.claims.attribute_deaths``), their attempts are given
back, and the reconciler re-drives them.

**The quarantine lane** (``orchestrator.quarantine_lane``, on by default): a re-driven suspect
is published to the pseudo-arm ``quarantine`` (``<prefix>.quarantine.<urgency>`` on Redis,
``<prefix>.quarantine`` on RabbitMQ) instead of its arm's queues. The ``quarantine`` pool of
the fleet file serves it: one prefork child (concurrency 1, prefetch 1), which runs
any arm's step, one at a time. A suspect that kills its runner there was alone in it: the
claim counted the attempt, ``attribute_deaths`` finds one step in the dead process and gives
nothing back, and the prefork parent requeues the message (``task_reject_on_worker_lost``) to
the quarantine lane again; after its attempts it is dead-lettered as poison. A suspect that
finishes was innocent. Co-residents of the shared pool therefore never use up attempts, and
the shared pool stops being killed by the same step over and over (its re-runs are elsewhere).
The suspect flag stays on the step, so a later re-drive keeps it in quarantine.

**Only with a live quarantine worker** (``lane_open``): a quarantine worker heartbeats its lane
in the registry like an arm pool (``worker/registration.py``). A re-drive sends suspects to the
lane only while such a heartbeat is live; without one (no quarantine pool in the fleet, or it
died: its key expires after ``registry.expire_after_heartbeats`` intervals) suspects go to their
arm's own pool, behind the gate below, and one warning line says so. A suspect already waiting
in the quarantine queue when the lane closes is found by the reconciler as a stalled step whose
arm queues are empty, and re-driven to its arm's queues under a new generation: the message left
in the quarantine queue is stale, and its claim is refused if a quarantine worker ever takes it,
so the step runs once.

**The gate** (below) is the lane's backstop, for suspects claimed outside the lane (the lane
switched off, or an older message redelivered to the arm's pool): every delivery passes this
process-wide gate before it claims (``shared``); a suspect, once claimed, leaves the shared
side and waits until no other attempt runs in the process (``alone``), and while it waits or
runs, no new delivery claims. On a prefork pool (and in the quarantine lane) every child runs
one step at a time, so the gate never waits. Deliveries held at the gate have claimed nothing:
if the suspect kills the process, their messages are redelivered (or their steps re-driven)
without an attempt counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from octollm.config import Settings
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.registry import directory as arm_directory

log = structlog.get_logger(__name__)


def lane_open(settings: Settings) -> bool:
    """Whether suspects go to the quarantine lane: the lane is on and a quarantine worker's
    heartbeat is live. Without the registry's Redis, the setting alone decides."""
    if not settings.orchestrator.quarantine_lane:
        return False
    directory = arm_directory.directory_for(settings)
    if directory is None:
        return True
    try:
        alive = directory.lane_workers(routing.quarantine_lane(settings.queue_prefix))
    except Exception as exc:  # noqa: BLE001 - registry unreachable: the arm's pool is safe
        log.warning("quarantine_lane_unknown", error=str(exc)[:200])
        return False
    if not alive and _say_once_a_minute(settings.queue_prefix):
        log.warning(
            "quarantine_lane_unavailable",
            detail="no live quarantine worker: suspect steps run on their arm's own pool "
            "(start `octollm worker quarantine` to isolate them)",
        )
    return alive > 0


_warned: dict[str, float] = {}


def _say_once_a_minute(key: str) -> bool:
    now = time.monotonic()
    last = _warned.get(key)
    if last is not None and now - last < 60.0:
        return False
    _warned[key] = now
    return True


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
