"""octollm: OctoLLM's integration patterns as a distributed task-queue system on Celery.

What users import lives here; importing it pulls in no I/O framework (the contracts are pure
pydantic). The orchestrator, the API and the client are imported from their own modules.
"""

from octollm.arms.base import Arm, ArmContext, ArmResult
from octollm.contracts import (
    Aggregation,
    ArmResponse,
    Budget,
    ErrorInfo,
    Plan,
    PlanStep,
    Priority,
    ProvenanceMetadata,
    StepStatus,
    TaskContract,
    TaskStatus,
)
from octollm.errors import OctoError, PermanentError, TransientError

__version__ = "0.1.0"

__all__ = [
    "Aggregation",
    "Arm",
    "ArmContext",
    "ArmResponse",
    "ArmResult",
    "Budget",
    "ErrorInfo",
    "OctoError",
    "PermanentError",
    "Plan",
    "PlanStep",
    "Priority",
    "ProvenanceMetadata",
    "StepStatus",
    "TaskContract",
    "TaskStatus",
    "TransientError",
    "__version__",
]
