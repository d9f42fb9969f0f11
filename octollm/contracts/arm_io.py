"""The six arms' inputs and outputs as contracts (pydantic v2, no I/O).

What a plan step may put in ``input`` for each built-in arm, and what the arm's output (stored
in ``step_results``, handed to dependants) looks like. The arms parse their own input (the
judge, guardian and retriever with request models of the same shape); these models are what
callers and tests hold them to: ``tests/unit/test_arm_contracts.py`` runs every arm and
validates its output here, so an arm that drifts from its contract fails a test. Output models
forbid unknown top-level keys; nested metadata stays open.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from octollm.contracts.plan import Plan


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="allow")  # steps may carry bookkeeping (_routing, tally)


# -- planner ------------------------------------------------------------------------------------


class PlannerInput(_In):
    goal: str | None = Field(default=None, max_length=2000)
    constraints: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    arms: list[str] | None = None


class PlannerOutput(_Out):
    plan: Plan
    source: Literal["llm", "fallback"]
    fallback_reason: str | None
    repairs: list[str]


class IntegrateOutput(_Out):
    """The planner pool's integrate step (``input.op: "integrate"``): the task's answer."""

    answer: str
    sources: int = Field(ge=0, description="Retrieved sources given to the model.")
    warnings: list[str]


# -- coder --------------------------------------------------------------------------------------


class CoderInput(_In):
    instruction: str | None = Field(default=None, max_length=8000)
    language: str = "python"
    request_type: Literal["generate", "debug", "refactor", "explain", "test"] = "generate"
    existing_code: str | None = None


class CodeReview(_Out):
    by: Literal["judge", "local"]
    iterations: int = Field(ge=1)
    valid: bool
    issues: list[dict[str, Any]]


class MemoryUse(_Out):
    recalled: int = Field(ge=0)
    stored: bool


class CoderOutput(_Out):
    code: str
    language: str
    explanation: str
    confidence: float = Field(ge=0, le=1)
    warnings: list[str]
    request_type: str
    fix_attempts: int = Field(ge=0, le=2)
    review: CodeReview | None = None  # absent for request_type "explain"
    memory: MemoryUse | None = None


# -- executor -----------------------------------------------------------------------------------


class ExecutorInput(_In):
    language: Literal["python", "shell"] = "python"
    code: str | None = Field(default=None, max_length=200_000)
    command: str | None = None
    args: list[str] | None = None
    timeout_seconds: float = Field(default=30, ge=1, le=300)
    stdin: str | None = Field(default=None, max_length=1_000_000)
    calls: list[str] | None = None


class ExecutorOutput(_Out):
    stdout: str
    checks: list[dict[str, Any]]
    stderr: str
    exit_code: int | None
    signal: int | str | None
    timed_out: bool
    duration_ms: float = Field(ge=0)
    command_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    language: Literal["python", "shell"]
    truncated: bool
    refused: bool
    sandbox: dict[str, Any]
    #: refusals the sandbox saw (``{"kind", "evidence"}``), recorded as security events
    security_events: list[dict[str, Any]] = Field(default_factory=list)


# -- retriever ----------------------------------------------------------------------------------


class Citation(_Out):
    """``document[start:end]`` of the ingested source is exactly the quoted content."""

    source: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    document_id: str | None = Field(default=None, description="A stored document's id.")
    title: str | None = Field(default=None, description="The stored document's title.")
    chunk: int | None = Field(default=None, ge=0, description="The chunk's index in it.")


class RetrievedChunk(_Out):
    content: str
    source: str
    relevance_score: float = Field(ge=0, le=1)
    rank: int = Field(ge=1)
    metadata: dict[str, Any]
    citation: Citation | None = None


class RetrieverSearchOutput(_Out):
    results: list[RetrievedChunk]
    query: str
    method_used: Literal["vector", "keyword", "hybrid"]
    total_results: int = Field(ge=0)
    metadata: dict[str, Any]
    citations: list[str] | None = Field(default=None, description="Cited sources, rank order.")
    requires_replanning: bool = Field(
        default=False, description="Set (with replan_reason) when the search found nothing."
    )
    replan_reason: str | None = None


class RetrieverIngestOutput(_Out):
    collection: str
    documents: int = Field(ge=1)
    chunks: int = Field(ge=0)
    sources: list[str]
    embedding_model: str


class RetrieverForgetOutput(_Out):
    collection: str
    document_ids: list[str]
    chunks_deleted: int = Field(ge=0)


# -- judge --------------------------------------------------------------------------------------


class ValidationIssue(_Out):
    severity: Literal["error", "warning", "info"]
    type: str
    message: str
    location: dict[str, Any] | None = None
    suggestion: str | None = None


class CriterionVerdict(_Out):
    criterion: str
    status: Literal["passed", "failed", "undecided"]
    why: str
    method: Literal["deterministic", "llm", "none"]


class JudgeOutput(_Out):
    """OctoLLM's ValidationResult, honest: ``verdict`` is ``invalid`` when an issue is an
    error, ``unverified`` when a criterion is undecided or nothing was checked, else
    ``valid``; ``valid`` is ``verdict == "valid"``."""

    valid: bool
    verdict: Literal["valid", "invalid", "unverified"]
    confidence: float = Field(ge=0, le=1)
    issues: list[ValidationIssue]
    criteria: list[CriterionVerdict]
    passed_criteria: list[str]
    failed_criteria: list[str]
    undecided_criteria: list[str]
    quality_score: float = Field(ge=0, le=1)
    metadata: dict[str, Any]


# -- guardian -----------------------------------------------------------------------------------


class SafetyIssue(BaseModel):
    model_config = ConfigDict(extra="allow")  # ``path`` when dependencies were scanned

    type: Literal["pii", "secret", "injection"]
    subtype: str
    risk_level: Literal["none", "low", "medium", "high", "critical"]
    message: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    confidence: float = Field(ge=0, le=1)


class GuardianOutput(_Out):
    safe: bool
    risk_level: Literal["none", "low", "medium", "high", "critical"]
    blocked: bool
    issues: list[SafetyIssue]
    sanitized_text: str | None
    metadata: dict[str, Any]
    sanitized_outputs: Any = None


#: Each built-in arm's input model and output model(s).
ARM_CONTRACTS: dict[str, tuple[type[BaseModel], tuple[type[BaseModel], ...]]] = {
    "planner": (PlannerInput, (PlannerOutput,)),
    "coder": (CoderInput, (CoderOutput,)),
    "executor": (ExecutorInput, (ExecutorOutput,)),
    "retriever": (_In, (RetrieverSearchOutput, RetrieverIngestOutput, RetrieverForgetOutput)),
    "judge": (_In, (JudgeOutput,)),
    "guardian": (_In, (GuardianOutput,)),
}
