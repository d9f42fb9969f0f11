"""octollm: OctoLLM's integration patterns as a distributed task-queue system on Celery.

What users import lives here. Exports resolve lazily (PEP 562), so ``import octollm`` pulls in
nothing heavy and modules that import a sibling never import the whole package surface.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Arm": "octollm.arms.base",
    "ArmContext": "octollm.arms.base",
    "ArmResult": "octollm.arms.base",
    "Aggregation": "octollm.contracts",
    "ArmResponse": "octollm.contracts",
    "Budget": "octollm.contracts",
    "ErrorInfo": "octollm.contracts",
    "Plan": "octollm.contracts",
    "PlanStep": "octollm.contracts",
    "Priority": "octollm.contracts",
    "ProvenanceMetadata": "octollm.contracts",
    "StepStatus": "octollm.contracts",
    "TaskContract": "octollm.contracts",
    "TaskStatus": "octollm.contracts",
    "OctoError": "octollm.errors",
    "PermanentError": "octollm.errors",
    "TransientError": "octollm.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'octollm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
