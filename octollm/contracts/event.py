"""Events: what happened to a task, a step or an arm, in one typed envelope."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: Event types octollm emits. Arms may add their own (``code.generated`` ...).
TASK_EVENTS = (
    "task.queued",
    "task.planning",
    "task.processing",
    "task.completed",
    "task.failed",
    "task.cancelled",
    "task.resumed",
    "task.repairing",
    "task.replanning",
)
STEP_EVENTS = (
    "step.started",
    "step.succeeded",
    "step.failed",
    "step.retrying",
    "step.skipped",
    "step.cancelled",
    "step.dead_lettered",
    "step.refused",
)
TERMINAL_EVENTS = frozenset({"task.completed", "task.failed", "task.cancelled"})


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
