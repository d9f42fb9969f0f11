"""The shape every arm has: ``run(input, ctx) -> ArmResult``.

Arms are plain logic. They import no I/O framework (no celery, httpx, sqlalchemy, redis,
qdrant_client): their collaborators (an LLM, a clock, cancellation, memory) arrive through the
``ArmContext`` the caller builds. That keeps every arm callable and testable without a broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Arm", "ArmContext", "ArmResult", "ChatLLM", "ChatResult", "NoLLM"]

from octollm.contracts.llm import ChatLLM, ChatResult
from octollm.errors import StepTimeout


class NoLLM:
    """Stands in where no model is configured: every call fails clearly."""

    def chat(self, messages: list[dict[str, str]], **_: Any) -> ChatResult:
        from octollm.errors import LLMUnavailable

        raise LLMUnavailable("no LLM is configured for this arm")


@dataclass
class ArmContext:
    """What an arm may know and use while it runs one step."""

    task_id: str
    step_id: str
    attempt: int
    goal: str
    llm: ChatLLM = field(default_factory=NoLLM)
    constraints: list[str] = field(default_factory=list)
    acceptance_criteria: list[str] = field(default_factory=list)
    #: Outputs of the steps this one depends on, by step id. A dependency that failed (an
    #: optional step) appears as ``{"_gap": {"status": "failed", "error": {...}}}``.
    dependencies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``time.monotonic()`` value after which the arm must stop.
    deadline: float | None = None
    #: Raises ``Cancelled`` when the task was cancelled; call it between long operations.
    check_cancelled: Callable[[], None] = field(default=lambda: None)
    #: Extra collaborators (memory, sandbox, registry...) by name.
    services: Mapping[str, Any] = field(default_factory=dict)
    #: The reflex edge's flag for this task (``metadata.screening`` of the contract: policy,
    #: kinds and findings with rule, span and score); empty when screening flagged nothing.
    screening: Mapping[str, Any] = field(default_factory=dict)

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when unbounded."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def ensure_time(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise StepTimeout(f"step {self.step_id} ran out of time")


@dataclass
class ArmResult:
    """What an arm produced. Token usage is metered by the caller's LLM wrapper."""

    output: dict[str, Any]
    confidence: float = 1.0
    model: str | None = None
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class Arm(Protocol):
    """An arm: a named capability set with one entry point."""

    name: str
    capabilities: frozenset[str]

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult: ...
