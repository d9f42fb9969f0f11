"""The shape every arm has: ``run(input: InputModel, ctx) -> ArmResult[OutputModel]``.

An arm declares its ``input_model`` and ``output_model`` (pydantic models from
``octollm.contracts``); whoever runs it validates the step's input into the first and the
arm's output against the second (``octollm.arms.boundary``), so ``run`` receives a valid model
and never re-parses a dict.

Arms are plain logic. They import no I/O framework (no celery, httpx, sqlalchemy, redis,
qdrant_client): their collaborators (an LLM, a clock, cancellation, memory) arrive through the
``ArmContext`` the caller builds. That keeps every arm callable and testable without a broker.

A step may run more than once (a worker died, a connection was lost, Postgres was away while
it recorded): ``ctx.idempotency_key`` is the same on every attempt of a step, so an arm's
external effects can be made to happen once (``step_idempotency_key``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

__all__ = [
    "Arm",
    "ArmContext",
    "ArmResult",
    "ChatLLM",
    "ChatResult",
    "NoLLM",
    "step_idempotency_key",
]

from octollm.contracts.llm import ChatLLM, ChatResult
from octollm.errors import StepTimeout


class NoLLM:
    """Stands in where no model is configured: every call fails clearly."""

    def chat(self, messages: list[dict[str, str]], **_: Any) -> ChatResult:
        from octollm.errors import LLMUnavailable

        raise LLMUnavailable("no LLM is configured for this arm")


def step_idempotency_key(task_id: str, step_id: str) -> str:
    """The idempotency key of a task's step: the same on every attempt and redelivery."""
    return hashlib.sha256(f"octollm-step:{task_id}:{step_id}".encode()).hexdigest()[:32]


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
    #: A key for the outside world, stable for this task's step across every attempt and
    #: redelivery (opaque, 32 hex characters). An arm with an external side effect passes it
    #: to the other side (an ``Idempotency-Key`` header, a request id, a unique column), so an
    #: attempt that ran again after a crash or a lost connection applies its effect once.
    idempotency_key: str = ""
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
            raise StepTimeout("the step ran out of time", details={"step_id": self.step_id})


OutputT = TypeVar("OutputT")
InputT = TypeVar("InputT", bound=BaseModel)
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class ArmResult(Generic[OutputT]):
    """What an arm produced: its output model (the boundary turns it into the stored JSON
    object, an ``ArmResult[dict[str, Any]]``). Token usage is metered by the caller's LLM
    wrapper.

    ``requires_replanning`` (with a ``replan_reason``) says the arm cannot take the task
    further as planned (the retriever found nothing, a tool is missing): the step still
    succeeds with its output, and the orchestrator asks the planner to extend or replace the
    rest of the plan, within the task's ``max_replans``."""

    output: OutputT
    confidence: float = 1.0
    model: str | None = None
    warnings: list[str] = field(default_factory=list)
    requires_replanning: bool = False
    replan_reason: str | None = None


@runtime_checkable
class Arm(Protocol[InputT, ModelT]):
    """An arm: a named capability set with one entry point, typed at both ends."""

    name: str
    capabilities: frozenset[str]

    @property
    def input_model(self) -> type[InputT]:
        """The step input's model (``octollm.contracts``): validated before ``run``."""
        ...

    @property
    def output_model(self) -> type[ModelT]:
        """The output's model: ``run``'s output is validated against it before it is stored."""
        ...

    def run(self, input: InputT, ctx: ArmContext) -> ArmResult[ModelT]: ...
