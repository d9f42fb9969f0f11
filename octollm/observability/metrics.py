"""octollm's Prometheus metrics and the event observer that keeps most of them.

Steps and tasks are counted from the events the orchestrator already emits (an observer on the
event bus, registered by the worker and API entry points), so no orchestration code has to know
about Prometheus. Names follow Prometheus conventions (``_total`` is added to counters).

Worker processes run in ``prometheus_client`` multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR``
is set (prefork children then share one exposition); see :mod:`octollm.observability.exposition`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from octollm.contracts.event import Event

STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

#: Transitions this process saw (through its event bus): in the API process mostly
#: ``status="queued"`` (what it submitted), in ``octollm metrics`` every worker's
#: (docs/metrics.md).
TASKS = Counter("octollm_tasks", "Task lifecycle transitions, by status.", ["status"])
STEPS = Counter(
    "octollm_steps", "Step lifecycle transitions, by arm and status.", ["arm", "status"]
)
STEP_SECONDS = Histogram(
    "octollm_step_duration_seconds",
    "Run time of finished step attempts, by arm and outcome.",
    ["arm", "status"],
    buckets=STEP_BUCKETS,
)
RETRIES = Counter("octollm_step_retries", "Step attempts that will be retried, by arm.", ["arm"])
DEAD_LETTERS = Counter(
    "octollm_dead_letters",
    "Work that exhausted its attempts, by kind (step, event, webhook) and arm (a step's; else -).",
    ["kind", "arm"],
)
BREAKER_STATE = Gauge(
    "octollm_breaker_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
    ["name"],
    multiprocess_mode="livemostrecent",
)
TOKENS = Counter("octollm_llm_tokens", "LLM tokens used, by model.", ["model"])
COST = Counter("octollm_llm_cost_usd", "LLM cost in USD, by model.", ["model"])
WEBHOOK_DELIVERIES = Counter(
    "octollm_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"]
)

_BREAKER_VALUES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}
_MAX_TRACKED = 10_000
_started: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
_lock = threading.Lock()


def set_breaker_state(name: str, state: str) -> None:
    """For the resilience layer: ``state`` is closed, half_open or open."""
    BREAKER_STATE.labels(name=name).set(_BREAKER_VALUES[state])


def breaker_transition(name: str, old: str, new: str) -> None:
    """An :func:`octollm.resilience.on_state_change` listener: the gauge follows the breaker."""
    set_breaker_state(name, new)


def record_llm_usage(model: str | None, tokens: int, cost_usd: float = 0.0) -> None:
    model = model or "unknown"
    if tokens > 0:
        TOKENS.labels(model=model).inc(tokens)
    if cost_usd > 0:
        COST.labels(model=model).inc(cost_usd)


def record_webhook(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome=outcome).inc()
    if outcome == "dead":
        DEAD_LETTERS.labels(kind="webhook", arm="-").inc()


def _remember(key: tuple[str, str], arm: str) -> None:
    with _lock:
        _started[key] = (arm, time.monotonic())
        _started.move_to_end(key)
        while len(_started) > _MAX_TRACKED:
            _started.popitem(last=False)


def _recall(key: tuple[str, str], *, forget: bool) -> tuple[str, float] | None:
    with _lock:
        return _started.pop(key, None) if forget else _started.get(key)


def observe_event(event: Event) -> None:
    """Update counters from one event (registered as an event-bus observer)."""
    family, _, status = event.event_type.partition(".")
    data: dict[str, Any] = event.data
    if family == "task":
        TASKS.labels(status=status).inc()
    elif family == "step":
        _observe_step(event, status, data)
    elif event.event_type == "event.dead_lettered":
        DEAD_LETTERS.labels(kind="event", arm="-").inc()


def _observe_step(event: Event, status: str, data: dict[str, Any]) -> None:
    key = (event.task_id or "", str(data.get("step_id", "")))
    if status == "started":
        _remember(key, str(data.get("arm") or "unknown"))
    finished = status in ("succeeded", "failed", "cancelled")
    known = _recall(key, forget=finished or status in ("retrying", "dead_lettered"))
    arm = str(data.get("arm") or (known[0] if known else "unknown"))
    STEPS.labels(arm=arm, status=status).inc()
    if status == "retrying":
        RETRIES.labels(arm=arm).inc()
    elif status == "dead_lettered":
        DEAD_LETTERS.labels(kind="step", arm=arm).inc()
    if status in ("succeeded", "failed", "retrying"):
        if isinstance(data.get("duration_ms"), int | float):
            seconds = float(data["duration_ms"]) / 1000
        elif known is not None:
            seconds = time.monotonic() - known[1]
        else:
            return
        STEP_SECONDS.labels(arm=arm, status=status).observe(seconds)
    if status == "succeeded":
        record_llm_usage(
            data.get("model"), int(data.get("tokens") or 0), float(data.get("cost_usd") or 0.0)
        )
