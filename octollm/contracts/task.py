"""The task a caller submits: a goal with constraints, priority and budget."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from octollm.contracts.plan import Plan
from octollm.contracts.status import Aggregation, Priority

TASK_ID_PATTERN = r"^task-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_TASK_ID_RE = re.compile(TASK_ID_PATTERN)

#: Largest serialized ``context`` or ``metadata`` accepted, in bytes.
MAX_CONTEXT_BYTES = 64 * 1024

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


def new_task_id() -> str:
    return f"task-{uuid.uuid4()}"


def is_task_id(value: str) -> bool:
    return bool(_TASK_ID_RE.match(value))


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Budget(BaseModel):
    """Limits for one task, summed over all its steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(
        default=20_000, ge=1, le=2_000_000, description="LLM tokens (prompt + completion)."
    )
    max_time_seconds: int = Field(
        default=600, ge=1, le=86_400, description="Wall time from submission to a terminal state."
    )
    max_cost_usd: float = Field(default=1.0, ge=0, le=1_000, description="Estimated LLM cost.")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="Retries of a step after its first attempt."
    )
    max_replans: int = Field(
        default=1,
        ge=0,
        le=3,
        description="Times an arm's requires_replanning may send the rest of the plan back to "
        "the planner.",
    )
    max_repair_rounds: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Repair rounds after an invalid verdict (each re-runs the faulty step and "
        "what depends on it), within the token, time and cost budget.",
    )


class TaskContract(BaseModel):
    """What a caller asks for. Validated at every boundary (API, CLI, client)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    task_id: str = Field(default_factory=new_task_id, pattern=TASK_ID_PATTERN)
    goal: str = Field(min_length=10, max_length=2000, description="What the task should achieve.")
    constraints: list[ShortText] = Field(default_factory=list, max_length=20)
    context: dict[str, Any] = Field(default_factory=dict)
    acceptance_criteria: list[ShortText] = Field(default_factory=list, max_length=10)
    priority: Priority = Priority.MEDIUM
    budget: Budget = Field(default_factory=Budget)
    deadline: datetime | None = None
    parent_task_id: str | None = Field(default=None, pattern=TASK_ID_PATTERN)
    metadata: dict[str, Any] = Field(default_factory=dict)
    aggregation: Aggregation = Aggregation.ACCUMULATIVE
    plan: Plan | None = Field(
        default=None, description="An explicit plan; when given, the planner arm is skipped."
    )
    created_at: datetime = Field(default_factory=_utcnow)

    @field_validator("context", "metadata")
    @classmethod
    def _bounded_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            size = len(json.dumps(value, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be JSON-serialisable ({exc})") from None
        if size > MAX_CONTEXT_BYTES:
            raise ValueError(f"is {size} bytes as JSON; the limit is {MAX_CONTEXT_BYTES}")
        return value

    @field_validator("deadline", "created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone (e.g. 2026-01-01T12:00:00Z)")
        return value

    @model_validator(mode="after")
    def _deadline_after_creation(self) -> TaskContract:
        if self.deadline is not None and self.deadline <= self.created_at:
            raise ValueError("deadline must be later than created_at")
        if self.parent_task_id is not None and self.parent_task_id == self.task_id:
            raise ValueError("parent_task_id must differ from task_id")
        return self
