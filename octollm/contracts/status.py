"""Lifecycles of tasks and steps, and the urgency scale shared by queues and priorities."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    """Task priority; also the urgency of the queue its steps go to."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


#: Most urgent first: the order in which a worker drains an arm's queues.
URGENCY_ORDER: tuple[Priority, ...] = (
    Priority.CRITICAL,
    Priority.HIGH,
    Priority.MEDIUM,
    Priority.LOW,
)


class TaskStatus(StrEnum):
    """queued → planning → processing → completed | failed | cancelled."""

    QUEUED = "queued"
    PLANNING = "planning"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TASK_STATUSES


TERMINAL_TASK_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class StepStatus(StrEnum):
    """pending → queued → running → succeeded | failed | skipped | cancelled."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STEP_STATUSES


TERMINAL_STEP_STATUSES = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


class Aggregation(StrEnum):
    """How a finished task's step outputs become the task's result."""

    SEQUENTIAL = "sequential"  # the output of the last step (in topological order)
    ACCUMULATIVE = "accumulative"  # every step's output, keyed by step id
    HIERARCHICAL = "hierarchical"  # outputs grouped by DAG level
