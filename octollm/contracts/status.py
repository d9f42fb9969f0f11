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
#: A live task: its steps may be claimed and it may still change status.
ACTIVE_TASK_STATUSES = frozenset({TaskStatus.QUEUED, TaskStatus.PLANNING, TaskStatus.PROCESSING})
#: An ended task that ``resume`` (or a dead-letter replay) may reopen.
RESUMABLE_TASK_STATUSES = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED})


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
#: A step that ran to an end: its dependants may run (a failed optional step leaves a gap).
RAN_STEP_STATUSES = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED})
#: A step no worker has taken yet: cancelling settles it, revoking its message is enough.
UNCLAIMED_STEP_STATUSES = frozenset({StepStatus.PENDING, StepStatus.QUEUED})
#: A step still to finish: a re-drive queues it again (unless a live lease holds it).
UNFINISHED_STEP_STATUSES = frozenset({StepStatus.PENDING, StepStatus.QUEUED, StepStatus.RUNNING})


def sql_list(statuses: frozenset[TaskStatus] | frozenset[StepStatus]) -> str:
    """The statuses as a SQL literal list in declaration order (``'queued', 'planning'``):
    raw queries spell them as literals so that Postgres matches the partial indexes."""
    members: list[TaskStatus | StepStatus] = [*TaskStatus, *StepStatus]
    ordered = sorted(statuses, key=lambda s: next(i for i, m in enumerate(members) if m is s))
    return ", ".join(f"'{s.value}'" for s in ordered)


class Aggregation(StrEnum):
    """How a finished task's step outputs become the task's result."""

    SEQUENTIAL = "sequential"  # the output of the last step (in topological order)
    ACCUMULATIVE = "accumulative"  # every step's output, keyed by step id
    HIERARCHICAL = "hierarchical"  # outputs grouped by DAG level
