"""Typed results, as the client sees the API (lenient: unknown fields are ignored, so a newer
server does not break an older client)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Links(_Model):
    self: str
    events: str
    steps: str
    cancel: str


class TaskAccepted(_Model):
    task_id: str
    status: str
    created_at: datetime
    links: Links
    cache_hit: bool = False
    idempotent_replay: bool = False
    screening: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class Progress(_Model):
    completed_steps: int = 0
    total_steps: int = 0
    current_step: str | None = None
    percentage: float = 0.0


class Task(_Model):
    task_id: str
    status: str
    priority: str
    goal: str
    progress: Progress = Field(default_factory=Progress)
    answer: str | None = None
    verdict: str | None = None
    rounds: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    provenance: list[dict[str, Any]] = Field(default_factory=list)
    tokens_used: int = 0
    cost_usd: float = 0.0
    request_id: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


class TaskSummary(_Model):
    task_id: str
    status: str
    priority: str
    goal: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class TaskPage(_Model):
    items: list[TaskSummary]
    next_cursor: str | None = None


class Step(_Model):
    step_id: str
    arm: str
    action: str
    status: str
    critical: bool = True
    depends_on: list[str] = Field(default_factory=list)
    attempts: int = 0
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None


class BatchItem(_Model):
    index: int
    status: str
    task_id: str | None = None
    error: dict[str, Any] | None = None


class Batch(_Model):
    batch_id: str
    total: int
    accepted: int
    rejected: int
    items: list[BatchItem]
    counts: dict[str, int] = Field(default_factory=dict)
    done: bool = False


class TaskEvent(_Model):
    """One event of a task's stream; ``id`` resumes the stream after it."""

    id: str | None
    event_type: str
    task_id: str | None = None
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    request_id: str | None = Field(
        default=None, description="The X-Request-ID of the request that submitted the task."
    )

    @property
    def terminal(self) -> bool:
        return self.event_type in {f"task.{s}" for s in TERMINAL_STATUSES}

    @classmethod
    def from_sse(cls, event_id: str | None, event: str, data: str) -> TaskEvent:
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {"raw": data}
        if not isinstance(body, dict):
            body = {"value": body}
        return cls(
            id=event_id,
            event_type=str(body.get("event_type", event)),
            task_id=body.get("task_id"),
            timestamp=body.get("timestamp"),
            data=body.get("data", {}) if isinstance(body.get("data"), dict) else {},
            source=body.get("source"),
            request_id=body.get("request_id"),
        )
