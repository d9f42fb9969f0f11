"""Lease renewal: leases belong to attempts, not processes.

A step's lease says "a live attempt is on this". The runner registers an attempt while it
executes (``held``); one daemon thread per worker process renews exactly the registered
attempts (task, step and attempt number, so a later attempt of the same step is never
extended by an earlier one). An attempt that ends, whatever the way (recorded, gave up while
Postgres was away, crashed), leaves the registry, so its lease lapses within
``lease_seconds`` and a redelivery or the reconciler takes the step over. When the whole
worker dies, renewals stop for all its attempts at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from octollm.orchestrator.runtime import Runtime
from octollm.store import claims

log = structlog.get_logger(__name__)

_lock = threading.Lock()
_keeper_pid: int | None = None
#: The attempts this process is executing now: (task_id, step_id, attempt) -> how many holders.
_held: dict[tuple[str, str, int], int] = {}


def executing() -> list[tuple[str, str, int]]:
    """The attempts this process is executing right now."""
    with _lock:
        return list(_held)


@contextmanager
def held(rt: Runtime, task_id: str, step_id: str, attempt: int) -> Iterator[None]:
    """Keep this attempt's lease renewed while the block runs (and no longer)."""
    ensure_lease_keeper(rt)
    key = (task_id, step_id, attempt)
    with _lock:
        _held[key] = _held.get(key, 0) + 1
    try:
        yield
    finally:
        with _lock:
            left = _held.get(key, 1) - 1
            if left > 0:
                _held[key] = left
            else:
                _held.pop(key, None)


def _loop(rt: Runtime, stop: threading.Event) -> None:
    cfg = rt.settings.orchestrator
    while not stop.wait(cfg.heartbeat_seconds):
        attempts = executing()
        if not attempts:
            continue
        try:
            with rt.db.session() as session:
                claims.renew_leases(session, rt.owner, cfg.lease_seconds, attempts)
        except Exception as exc:  # noqa: BLE001 - keep renewing; the database may come back
            log.warning("lease_renewal_failed", error=str(exc)[:200])


def ensure_lease_keeper(rt: Runtime) -> None:
    """Start this process's renewal thread once (again after a fork)."""
    global _keeper_pid
    pid = os.getpid()
    if _keeper_pid == pid:
        return
    with _lock:
        if _keeper_pid == pid:
            return
        if _keeper_pid is not None:  # a forked child: the parent's attempts are not ours
            _held.clear()
        thread = threading.Thread(
            target=_loop, args=(rt, threading.Event()), name="octollm-lease", daemon=True
        )
        thread.start()
        _keeper_pid = pid
