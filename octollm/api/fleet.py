"""The fleet as the dashboard shows it: pools, live workers, arm heartbeats, queue depth per arm
and urgency, recent throughput and failures per arm, and the LLM breaker.

Every part is read from where it already lives (the fleet file, Celery's ``inspect`` through the
readiness checker's cache, the arm directory's heartbeats and per-minute outcome counters in
Redis, the broker's queue lengths); a part whose source does not answer is reported as
unavailable (``errors``), never as zero.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from octollm.api.state import ApiState
from octollm.observability.queues import depths, octollm_queues
from octollm.orchestrator.broker.fleet import fleet_path, load_fleet
from octollm.orchestrator.calls.providers import llm_breaker
from octollm.orchestrator.registry.directory import directory_for

THROUGHPUT_MINUTES = 10


class PoolView(BaseModel):
    name: str
    arms: list[str]
    pool: str
    concurrency: int


class WorkerView(BaseModel):
    worker: str
    queues: list[str]


class ArmLive(BaseModel):
    arm: str
    health: str
    workers: int
    heartbeat_age_s: float | None
    succeeded: int = Field(description="Attempts that succeeded within the stats window.")
    failed: int


class QueueDepth(BaseModel):
    queue: str
    arm: str
    urgency: str
    depth: int | None = Field(description="null: the broker did not answer for this queue.")


class Minute(BaseModel):
    minute: int = Field(description="Unix time of the minute's start, in seconds.")
    succeeded: int
    failed: int


class BreakerView(BaseModel):
    name: str
    state: str = Field(description="closed, open, half_open, or disabled (no breaker).")


class FleetView(BaseModel):
    pools: list[PoolView]
    workers: list[WorkerView]
    arms: list[ArmLive]
    queues: list[QueueDepth]
    throughput: dict[str, list[Minute]] = Field(
        description=f"Per arm, step attempts per minute over the last {THROUGHPUT_MINUTES}."
    )
    breaker: BreakerView
    errors: dict[str, str] = Field(default_factory=dict, description="Parts that did not answer.")


def _short(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def view(state: ApiState) -> FleetView:
    settings = state.settings
    errors: dict[str, str] = {}
    pools = [
        PoolView(name=p.name, arms=list(p.arms), pool=p.pool, concurrency=p.concurrency)
        for p in load_fleet(fleet_path(settings)).values()
    ]
    arm_names = sorted({a for p in pools for a in p.arms} | set(state.readiness.arms))

    workers: list[WorkerView] = []
    try:
        consuming = state.readiness.consuming()
        workers = [WorkerView(worker=w, queues=sorted(q)) for w, q in sorted(consuming.items())]
    except Exception as exc:  # noqa: BLE001 - a broker that does not answer is shown as such
        errors["workers"] = _short(exc)

    live: list[ArmLive] = []
    throughput: dict[str, list[Minute]] = {}
    directory = directory_for(settings)
    if directory is None:
        errors["arms"] = "no Redis configured: no heartbeats"
    else:
        try:
            for s in directory.statuses(arm_names).values():
                live.append(
                    ArmLive(
                        arm=s.arm,
                        health=str(s.health),
                        workers=s.workers,
                        heartbeat_age_s=s.heartbeat_age,
                        succeeded=s.succeeded,
                        failed=s.failed,
                    )
                )
            for arm, series in directory.per_minute(arm_names, THROUGHPUT_MINUTES).items():
                throughput[arm] = [
                    Minute(minute=m * 60, succeeded=o, failed=f) for m, o, f in series
                ]
        except Exception as exc:  # noqa: BLE001
            errors["arms"] = _short(exc)

    queues: list[QueueDepth] = []
    broker = state.runtime.target.broker_url
    refs = octollm_queues(settings.queue_prefix, broker, arm_names)
    found: dict[str, int] = {}
    try:
        found = depths(broker, [r.name for r in refs])
    except Exception as exc:  # noqa: BLE001
        errors["queues"] = _short(exc)
    queues = [
        QueueDepth(queue=r.name, arm=r.arm, urgency=r.urgency, depth=found.get(r.name))
        for r in refs
    ]

    return FleetView(
        pools=pools,
        workers=workers,
        arms=live,
        queues=queues,
        throughput=throughput,
        breaker=_breaker(state, errors),
        errors=errors,
    )


def _breaker(state: ApiState, errors: dict[str, str]) -> BreakerView:
    breaker = llm_breaker(state.settings)
    if breaker is None:
        return BreakerView(name="llm", state="disabled")
    try:
        return BreakerView(name=breaker.name, state=breaker.state())
    except Exception as exc:  # noqa: BLE001
        errors["breaker"] = _short(exc)
        return BreakerView(name=breaker.name, state="unknown")
