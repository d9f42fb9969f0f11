"""Lease renewal: one daemon thread per worker process extends the leases it holds.

A step's lease says "a live worker is on this". When the worker dies, renewals stop, the lease
expires, and another delivery (or the reconciler) takes the step over.
"""

from __future__ import annotations

import os
import threading

import structlog

from octollm.orchestrator.runtime import Runtime
from octollm.store import claims

log = structlog.get_logger(__name__)

_lock = threading.Lock()
_keeper_pid: int | None = None


def _loop(rt: Runtime, stop: threading.Event) -> None:
    cfg = rt.settings.orchestrator
    while not stop.wait(cfg.heartbeat_seconds):
        try:
            with rt.db.session() as session:
                claims.renew_leases(session, rt.owner, cfg.lease_seconds)
        except Exception as exc:  # noqa: BLE001 - keep renewing; the database may come back
            log.warning("lease_renewal_failed", error=str(exc))


def ensure_lease_keeper(rt: Runtime) -> None:
    """Start this process's renewal thread once (again after a fork)."""
    global _keeper_pid
    pid = os.getpid()
    if _keeper_pid == pid:
        return
    with _lock:
        if _keeper_pid == pid:
            return
        thread = threading.Thread(
            target=_loop, args=(rt, threading.Event()), name="octollm-lease", daemon=True
        )
        thread.start()
        _keeper_pid = pid
