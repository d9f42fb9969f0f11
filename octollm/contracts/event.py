"""Events: what happened to a task, a step or an arm, in one typed envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    """Every event type octollm itself emits (``Runtime.emit`` takes only these).

    An event subscription may emit a type of its own (``SubscriptionSpec.emits``, e.g.
    ``validation.complete``): ``Event.event_type`` stays a string for those. Steps that are
    skipped (a critical step failed, the task ended) are reported in their task's terminal
    event (``skipped_steps``), not one event each."""

    TASK_QUEUED = "task.queued"
    TASK_PLANNING = "task.planning"
    TASK_PROCESSING = "task.processing"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"
    TASK_CANCELLED = "task.cancelled"
    TASK_RESUMED = "task.resumed"
    TASK_REDRIVEN = "task.redriven"
    TASK_REPLAYED = "task.replayed"
    TASK_REPAIRING = "task.repairing"
    TASK_REPLANNING = "task.replanning"
    STEP_STARTED = "step.started"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRYING = "step.retrying"
    STEP_CANCELLED = "step.cancelled"
    STEP_DEAD_LETTERED = "step.dead_lettered"
    #: a delivery refused at admission (its capability token), surfaced on the task's stream
    STEP_REFUSED = "step.refused"
    CODE_GENERATED = "code.generated"
    #: an event stream consumer gave up on an event (``events.stream``)
    EVENT_DEAD_LETTERED = "event.dead_lettered"
    #: an event subscription's arm failed for good (``worker.event_tasks``)
    SUBSCRIPTION_FAILED = "subscription.failed"

    @classmethod
    def of_task(cls, status: str) -> EventType:
        """The event of a task reaching ``status`` (``completed`` -> ``task.completed``)."""
        return cls(f"task.{status}")


TERMINAL_EVENTS = frozenset(
    {EventType.TASK_COMPLETED, EventType.TASK_FAILED, EventType.TASK_CANCELLED}
)


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(default_factory=lambda: f"evt-{uuid.uuid4()}")
    event_type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    source: str = Field(default="orchestrator", max_length=64)
    task_id: str | None = None
    tenant: str = "default"
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
