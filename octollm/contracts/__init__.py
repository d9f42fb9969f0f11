"""Data contracts (pydantic v2). No I/O framework is imported from here."""

from octollm.contracts.arm import (
    ArmResponse,
    ErrorCategory,
    ErrorInfo,
    ProvenanceMetadata,
    TokenUsage,
)
from octollm.contracts.plan import BUILTIN_ARMS, Plan, PlanStep, topological_levels
from octollm.contracts.status import (
    TERMINAL_STEP_STATUSES,
    TERMINAL_TASK_STATUSES,
    URGENCY_ORDER,
    Aggregation,
    Priority,
    StepStatus,
    TaskStatus,
)
from octollm.contracts.task import Budget, TaskContract, is_task_id, new_task_id

__all__ = [
    "BUILTIN_ARMS",
    "TERMINAL_STEP_STATUSES",
    "TERMINAL_TASK_STATUSES",
    "URGENCY_ORDER",
    "Aggregation",
    "ArmResponse",
    "Budget",
    "ErrorCategory",
    "ErrorInfo",
    "Plan",
    "PlanStep",
    "Priority",
    "ProvenanceMetadata",
    "StepStatus",
    "TaskContract",
    "TaskStatus",
    "TokenUsage",
    "is_task_id",
    "new_task_id",
    "topological_levels",
]
