"""The live arm registry: which pools serve which arms, how healthy each arm is, and which arm
answers a capability.

* **Registration** (``register``): a pool's worker, when it starts, upserts each arm's
  ``ArmCapability`` into ``arm_registrations`` for all tenants (``*``; the table
  ``POST /registry/arms`` writes per tenant and ``GET /api/v1/arms`` lists; the values go to
  ``details``), so the registry is durable.
* **Heartbeats** (``ArmDirectory.heartbeat``): every ``registry.heartbeat_seconds`` the worker
  refreshes ``octollm:registry:heartbeat:{arm}:{worker}`` (its ``ArmCapability``, interval and
  TTL as JSON) with a TTL of ``expire_after_heartbeats`` intervals; a clean shutdown deletes
  it. A heartbeat's age is its TTL minus what is left of it (``PTTL``), so the hosts' clocks
  never matter, and it is judged against the writer's interval, not the reader's.
* **Outcomes** (``record_outcome``, called by the runner): per-minute counters
  ``octollm:registry:outcomes:{arm}:{minute}`` (succeeded / failed attempts), summed over
  ``stats_window_seconds``: the arm's recent success rate.
* **Health** (``arm_routing.health``): no live heartbeat -> unavailable; the freshest one older
  than ``stale_after_heartbeats`` intervals, or a recent success rate below ``degraded_below``
  (with at least ``min_outcomes``) -> degraded; else healthy.
* **Resolution** (``resolve``): a plan step ``arm: "auto"`` gets the best-scoring installed
  arm that has every capability it asks for (``arm_routing``). The process's directory comes
  from its settings; a process without Redis settings scores the installed arms on their
  declared values, all presumed healthy (and says so in the step's ``_routing``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from octollm.arms.registry import known_arms
from octollm.config import Settings, get_settings
from octollm.config.registry import RegistrySettings
from octollm.contracts.arm_capability import ArmCapability, ArmHealth
from octollm.errors import InvalidPlan, OctoError
from octollm.orchestrator.calls.providers import redis_client
from octollm.orchestrator.registry import scoring as arm_routing
from octollm.orchestrator.registry.catalog import capability_of
from octollm.store import arm_registry
from octollm.store.db import Database

log = structlog.get_logger(__name__)

HEARTBEAT = "octollm:registry:heartbeat"
#: Pseudo-arm lanes beat here: ``{LANE}:{lane}:{worker}`` (lane ``<prefix>.quarantine``),
#: with the arms' TTL.
LANE = "octollm:registry:lane"
OUTCOMES = "octollm:registry:outcomes"


@dataclass(frozen=True)
class Beat:
    """An arm's freshest heartbeat: its age and its writer's interval (seconds)."""

    age: float
    interval: float
    workers: int
    capability: ArmCapability


@dataclass(frozen=True)
class ArmStatus:
    arm: str
    health: ArmHealth
    workers: int
    heartbeat_age: float | None
    succeeded: int
    failed: int
    capability: ArmCapability | None


class ArmDirectory:
    def __init__(self, client: redis.Redis, cfg: RegistrySettings) -> None:
        self._redis = client
        self.cfg = cfg
        self.ttl_ms = int(cfg.heartbeat_seconds * cfg.expire_after_heartbeats * 1000)

    # -- writers -------------------------------------------------------------------------------

    def heartbeat(self, worker: str, capabilities: Sequence[ArmCapability]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for cap in capabilities:
            value = json.dumps(
                {
                    "capability": cap.model_dump(mode="json"),
                    "interval": self.cfg.heartbeat_seconds,
                    "ttl_ms": self.ttl_ms,
                }
            )
            pipe.set(f"{HEARTBEAT}:{cap.arm}:{worker}", value, px=self.ttl_ms)
        pipe.execute()

    def withdraw(self, worker: str, arms: Iterable[str], lanes: Iterable[str] = ()) -> None:
        keys = [f"{HEARTBEAT}:{arm}:{worker}" for arm in arms]
        keys += [f"{LANE}:{lane}:{worker}" for lane in lanes]
        if keys:
            self._redis.delete(*keys)

    def lane_heartbeat(self, worker: str, lanes: Sequence[str]) -> None:
        """A pseudo-arm lane's worker (``quarantine``) is alive: refreshed like an arm's."""
        pipe = self._redis.pipeline(transaction=False)
        for lane in lanes:
            pipe.set(f"{LANE}:{lane}:{worker}", self.cfg.heartbeat_seconds, px=self.ttl_ms)
        pipe.execute()

    def record_outcome(self, arm: str, ok: bool) -> None:
        pipe = self._redis.pipeline(transaction=False)
        self.queue_outcome(pipe, arm, ok)
        pipe.execute()

    def queue_outcome(self, pipe: Any, arm: str, ok: bool) -> None:
        """``record_outcome``'s writes, added to ``pipe`` (sent with a step's event)."""
        key = f"{OUTCOMES}:{arm}:{int(time.time() // 60)}"
        pipe.hincrby(key, "ok" if ok else "failed", 1)
        pipe.expire(key, self.cfg.stats_window_seconds + 120)

    # -- readers -------------------------------------------------------------------------------

    def recent(self, arms: Sequence[str]) -> dict[str, tuple[int, int]]:
        minute = int(time.time() // 60)
        buckets = range(minute - self.cfg.stats_window_seconds // 60, minute + 1)
        pipe = self._redis.pipeline(transaction=False)
        for arm in arms:
            for bucket in buckets:
                pipe.hmget(f"{OUTCOMES}:{arm}:{bucket}", "ok", "failed")
        replies = iter(pipe.execute())
        out: dict[str, tuple[int, int]] = {}
        for arm in arms:
            ok = failed = 0
            for _ in buckets:
                got = next(replies)
                ok += int(got[0] or 0)
                failed += int(got[1] or 0)
            out[arm] = (ok, failed)
        return out

    def per_minute(
        self, arms: Sequence[str], minutes: int
    ) -> dict[str, list[tuple[int, int, int]]]:
        """Each arm's ``(minute, succeeded, failed)`` attempts over the last ``minutes`` minutes
        (oldest first; ``minute`` is a Unix minute; counters outlive the stats window by 2)."""
        now = int(time.time() // 60)
        buckets = range(now - minutes + 1, now + 1)
        pipe = self._redis.pipeline(transaction=False)
        for arm in arms:
            for bucket in buckets:
                pipe.hmget(f"{OUTCOMES}:{arm}:{bucket}", "ok", "failed")
        replies = iter(pipe.execute())
        return {
            arm: [
                (bucket, int(got[0] or 0), int(got[1] or 0))
                for bucket, got in ((b, next(replies)) for b in buckets)
            ]
            for arm in arms
        }

    def lane_workers(self, lane: str) -> int:
        """How many workers of ``lane`` have a live heartbeat (not expired: TTL
        ``expire_after_heartbeats`` intervals)."""
        return sum(1 for _ in self._redis.scan_iter(match=f"{LANE}:{lane}:*", count=500))

    def heartbeats(self) -> dict[str, Beat]:
        """The freshest heartbeat of each arm, with the number of live workers behind it."""
        keys = list(self._redis.scan_iter(match=f"{HEARTBEAT}:*", count=500))
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
            pipe.get(key)
        replies = pipe.execute()
        found: dict[str, Beat] = {}
        for index, key in enumerate(keys):
            pttl, raw = replies[2 * index], replies[2 * index + 1]
            if raw is None or pttl is None or int(pttl) < 0:
                continue
            arm = _text(key)[len(HEARTBEAT) + 1 :].partition(":")[0]
            try:
                beat = json.loads(raw)
                cap = ArmCapability.model_validate(beat["capability"])
                interval, ttl_ms = float(beat["interval"]), int(beat["ttl_ms"])
            except (ValueError, KeyError, TypeError):
                continue
            age = max(0.0, (ttl_ms - int(pttl)) / 1000)
            seen = found.get(arm)
            workers = (seen.workers if seen else 0) + 1
            if seen is None or age / interval < seen.age / seen.interval:
                found[arm] = Beat(age, interval, workers, cap)
            else:
                found[arm] = Beat(seen.age, seen.interval, workers, seen.capability)
        return found

    def statuses(self, arms: Iterable[str]) -> dict[str, ArmStatus]:
        names = sorted(set(arms))
        beats = self.heartbeats()
        recent = self.recent(names)
        cfg = self.cfg
        out = {}
        for arm in names:
            beat = beats.get(arm)
            state = arm_routing.health(
                beat.age if beat else None,
                beat.interval if beat else cfg.heartbeat_seconds,
                stale_after=cfg.stale_after_heartbeats,
                expire_after=cfg.expire_after_heartbeats,
                recent=recent[arm],
                min_outcomes=cfg.min_outcomes,
                degraded_below=cfg.degraded_below,
            )
            out[arm] = ArmStatus(
                arm,
                state,
                beat.workers if beat else 0,
                beat.age if beat else None,
                *recent[arm],
                beat.capability if beat else None,
            )
        return out

    def candidates(self, arms: Iterable[str]) -> list[arm_routing.Candidate]:
        out = []
        for arm, status in self.statuses(arms).items():
            cap = status.capability or _declared(arm)
            if cap is None:
                continue
            out.append(
                arm_routing.Candidate(
                    arm=arm,
                    capabilities=frozenset(cap.capabilities),
                    cost_tier=cap.cost_tier,
                    health=status.health,
                    success_rate=arm_routing.observed_success(
                        (status.succeeded, status.failed), cap.success_rate, self.cfg.min_outcomes
                    ),
                )
            )
        return out


def _declared(arm: str) -> ArmCapability | None:
    try:
        return capability_of(arm)
    except (OctoError, ImportError, ValueError) as exc:
        log.warning("arm_capability_unknown", arm=arm, error=str(exc)[:200])
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_directories: dict[tuple[str, str], ArmDirectory] = {}
_lock = threading.Lock()


def directory_for(settings: Settings) -> ArmDirectory | None:
    """The process's directory for ``settings``, or None without Redis settings."""
    try:
        url = settings.redis_url()
    except RuntimeError:
        return None
    key = (url, settings.registry.model_dump_json())
    with _lock:
        found = _directories.get(key)
        if found is None:
            found = _directories[key] = ArmDirectory(redis_client(url), settings.registry)
        return found


def register(db: Database, capabilities: Sequence[ArmCapability], pool: str) -> None:
    """Upsert each arm's capability into the durable registry (``arm_registrations``)."""
    with db.session() as session:
        for cap in capabilities:
            arm_registry.upsert(
                session,
                cap.arm,
                cap.capabilities,
                tenant=arm_registry.ALL_TENANTS,  # a pool's built-in arms serve every tenant
                description=cap.description,
                version=cap.version,
                details={
                    **cap.model_dump(exclude={"arm", "capabilities", "description", "version"}),
                    "source": "pool",
                    "pool": pool,
                },
                registered_by=f"pool:{pool}"[:32],
            )


@dataclass(frozen=True)
class Routed:
    """Where a capability-routed step goes, and whether live health informed the choice."""

    choice: arm_routing.Choice
    live: bool


def resolve(need: Sequence[str], directory: ArmDirectory | None = None) -> Routed:
    """The arm a capability-routed step goes to; ``InvalidPlan`` when none qualifies."""
    installed = sorted(known_arms())
    if directory is None:
        directory = directory_for(get_settings())
    try:
        candidates = directory.candidates(installed) if directory is not None else None
    except redis.RedisError as exc:
        log.warning("arm_registry_unreachable", error=str(exc)[:200])
        candidates = None
    live = candidates is not None
    if candidates is None:
        candidates = _static_candidates(installed)
    choice = arm_routing.choose(candidates, list(need))
    if choice is None:
        health = "registered and not unavailable " if live else ""
        raise InvalidPlan(
            f"no {health}arm offers every capability of {sorted(need)}",
            details={"capabilities": sorted(need)},
        )
    return Routed(choice, live)


def _static_candidates(installed: Iterable[str]) -> list[arm_routing.Candidate]:
    out = []
    for arm in installed:
        cap = _declared(arm)
        if cap is not None:
            out.append(
                arm_routing.Candidate(
                    arm,
                    frozenset(cap.capabilities),
                    cap.cost_tier,
                    ArmHealth.HEALTHY,
                    cap.success_rate,
                )
            )
    return out
