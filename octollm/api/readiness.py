"""``/ready``: the database answers, the broker accepts a connection, and every arm pool has
at least one worker consuming its queues right now.

The worker check is a real consumption check: a broadcast ``inspect().active_queues()`` goes
through the broker to every worker's control channel, and each live worker answers with the
queues its consumer is subscribed to. A worker that is up but not consuming an arm's queues
(wrong ``-Q``, consumer cancelled, blocked on a dead broker connection) does not count, and
neither does a PID or a heartbeat. Each arm's queues (``<prefix>.<arm>.<urgency>``, or one
queue per arm on RabbitMQ) must all have a consumer. The broadcast costs up to the inspect
timeout and reaches every worker, so the verdict is cached for a few seconds and computed by
one caller at a time: a load balancer polling ``/ready`` cannot turn into a broadcast storm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.runtime import Runtime


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pool:
    workers: int
    unconsumed: tuple[str, ...] | list[str]

    @property
    def healthy(self) -> bool:
        return not self.unconsumed


@dataclass(frozen=True)
class Verdict:
    ready: bool
    checks: dict[str, Check]
    checked_at: float


class Readiness:
    def __init__(
        self,
        rt: Runtime,
        *,
        arms: Sequence[str],
        cache_seconds: float = 5.0,
        inspect_timeout: float = 1.0,
    ) -> None:
        self.rt = rt
        self.arms = tuple(arms)
        self.cache_seconds = cache_seconds
        self.inspect_timeout = inspect_timeout
        self._lock = threading.Lock()
        self._inspect_lock = threading.Lock()
        self._cached: Verdict | None = None
        self._consuming: dict[str, list[str]] | None = None
        self._consuming_at = 0.0

    def verdict(self) -> Verdict:
        """The cached verdict while fresh, else a new one (computed by one thread at a time)."""
        with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached.checked_at < self.cache_seconds:
                return cached
            checks = {
                "database": self.database(),
                "broker": self.broker(),
            }
            checks["workers"] = (
                self.workers()
                if checks["broker"].ok
                else Check(False, "broker unreachable", {"pools": {}})
            )
            verdict = Verdict(all(c.ok for c in checks.values()), checks, time.monotonic())
            self._cached = verdict
            return verdict

    def database(self) -> Check:
        try:
            self.rt.db.ping()
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure as "not ready"
            return Check(False, f"{type(exc).__name__}: {exc}"[:300])
        return Check(True)

    def broker(self) -> Check:
        try:
            with self.rt.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=2.0)
        except Exception as exc:  # noqa: BLE001
            return Check(False, f"{type(exc).__name__}: {exc}"[:300])
        return Check(True)

    def active_queues(self) -> dict[str, list[str]]:
        """Worker name -> queue names it consumes (only workers that answered in time)."""
        reply = self.rt.app.control.inspect(timeout=self.inspect_timeout).active_queues() or {}
        return {
            worker: [str(q.get("name")) for q in queues or [] if isinstance(q, dict)]
            for worker, queues in reply.items()
        }

    def consuming(self) -> dict[str, list[str]]:
        """``active_queues()``, cached like the verdict (one broadcast per cache period)."""
        with self._inspect_lock:
            fresh = time.monotonic() - self._consuming_at < self.cache_seconds
            if self._consuming is None or not fresh:
                self._consuming = self.active_queues()
                self._consuming_at = time.monotonic()
            return self._consuming

    def pools(self, arms: Sequence[str], consuming: dict[str, list[str]]) -> dict[str, Pool]:
        broker = self.rt.target.broker_url
        prefix = self.rt.settings.queue_prefix
        out: dict[str, Pool] = {}
        for arm in arms:
            queues = routing.queue_names_for(prefix, [arm], broker)
            workers = sum(1 for qs in consuming.values() if set(qs) & set(queues))
            uncovered = [q for q in queues if not any(q in qs for qs in consuming.values())]
            out[arm] = Pool(workers, uncovered)
        return out

    def workers(self) -> Check:
        try:
            consuming = self.consuming()
        except Exception as exc:  # noqa: BLE001
            return Check(False, f"inspect failed: {type(exc).__name__}: {exc}"[:300], {"pools": {}})
        pools = self.pools(self.arms, consuming)
        missing = [arm for arm, pool in pools.items() if not pool.healthy]
        detail = f"no consumer for: {', '.join(missing)}" if missing else ""
        data = {
            "pools": {
                arm: {"workers": p.workers, "unconsumed_queues": list(p.unconsumed)}
                for arm, p in pools.items()
            },
            "responding_workers": len(consuming),
        }
        return Check(not missing, detail, data)
