"""The arms' inputs and outputs as contracts (pydantic v2, no I/O): the typed arm boundary.

What a plan step may put in ``input`` for each built-in arm, and what the arm's output (stored
in ``step_results``, handed to dependants) looks like. Every arm names its ``input_model`` and
``output_model`` (``octollm.arms.base.Arm``); the step runner validates the step's input with
the first before ``run`` and the arm's output with the second before storing it
(``octollm.arms.boundary``), so an invalid input or output is a clear, non-retryable step
failure with the validation errors in its ``details``. There is one model per shape: the arms
import these, they keep no request models of their own.

Input models allow unknown keys (a step carries bookkeeping: ``action``, ``_routing``,
``tally``); the retriever's forbid them, after dropping the step's own keys. Output models
forbid unknown top-level keys; nested metadata stays open. What is stored is the output's
``model_dump(mode="json", exclude_unset=True)``: exactly the keys the arm set.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    field_validator,
    model_validator,
)

from octollm.contracts.plan import Plan


class ArmInput(BaseModel):
    """The base of every arm's input: unknown keys are kept (``model_extra``)."""

    model_config = ConfigDict(extra="allow")  # steps may carry bookkeeping (_routing, tally)


class ArmOutput(BaseModel):
    """The base of the built-in arms' outputs: unknown top-level keys are refused."""

    model_config = ConfigDict(extra="forbid")


class OpenOutput(BaseModel):
    """An output of any JSON object shape (plugin arms that promise no more than that)."""

    model_config = ConfigDict(extra="allow")


# -- planner ------------------------------------------------------------------------------------


class PlannerInput(ArmInput):
    """Plan a goal (the default), ``op: "replan"`` the rest of a plan, or ``op: "integrate"``
    the steps' results into the task's answer."""

    op: Literal["plan", "replan", "integrate"] | None = None
    goal: str | None = Field(default=None, max_length=2000)
    constraints: list[str] = Field(default_factory=list)
    context: dict[str, Any] = Field(default_factory=dict)
    arms: list[str] | None = None
    reason: str | None = Field(default=None, description="Why a replan was asked for.")
    finished: dict[str, Any] = Field(
        default_factory=dict, description="Replan: the finished steps' outputs."
    )
    from_step: str | None = Field(default=None, description="Replan: the step that asked.")
    replaced: list[dict[str, Any]] = Field(
        default_factory=list, description="Replan: the skipped steps (step_id, arm, action)."
    )
    repair: dict[str, Any] | None = Field(
        default=None, description="Integrate in a repair round: the judge's findings."
    )


class PlannerOutput(ArmOutput):
    plan: Plan
    source: Literal["llm", "fallback"]
    fallback_reason: str | None
    repairs: list[str]


class IntegrateOutput(ArmOutput):
    """The planner pool's integrate step (``input.op: "integrate"``): the task's answer."""

    answer: str
    sources: int = Field(ge=0, description="Retrieved sources given to the model.")
    warnings: list[str]


class PlannerArmOutput(RootModel[PlannerOutput | IntegrateOutput]):
    """The planner pool's output: a plan, or (``op: "integrate"``) the task's answer."""


# -- coder --------------------------------------------------------------------------------------


class CoderInput(ArmInput):
    instruction: str | None = Field(default=None, max_length=8000)
    language: str = "python"
    request_type: Literal["generate", "debug", "refactor", "explain", "test"] = "generate"
    existing_code: str | None = None
    repair: dict[str, Any] | None = Field(
        default=None, description="A repair round: the judge's findings on the last code."
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """An empty ``language`` or ``request_type`` is the default one."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in _DEFAULTED and v in (None, ""))}
        return data

    @field_validator("language", "request_type", mode="before")
    @classmethod
    def _normalised(cls, value: Any) -> Any:
        """``" Python"`` is ``python``."""
        return value.strip().lower() if isinstance(value, str) else value


_DEFAULTED = frozenset({"language", "request_type"})


class CodeReview(ArmOutput):
    by: Literal["judge", "local"]
    iterations: int = Field(ge=1)
    valid: bool
    issues: list[dict[str, Any]]


class MemoryUse(ArmOutput):
    recalled: int = Field(ge=0)
    stored: bool


class CoderOutput(ArmOutput):
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


class ExecutorInput(ArmInput):
    """Python ``code`` (or the code of the step it depends on), or a shell ``command``.

    Without ``language`` a step with a ``command`` is shell, else python."""

    language: Literal["python", "shell"] | None = None
    code: str | None = Field(default=None, max_length=200_000)
    command: str | None = None
    args: list[str] | None = None
    timeout_seconds: float = Field(default=30, ge=1, le=300)
    stdin: str | None = Field(default=None, max_length=1_000_000)
    calls: list[str] | None = None


class ExecutorOutput(ArmOutput):
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

#: A collection name (a Qdrant collection per tenant is derived from it).
COLLECTION_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
DEFAULT_COLLECTION = "knowledge_base"
#: Chunk sizes: all-MiniLM-L6-v2 reads 256 word pieces, roughly 1,000 characters.
DEFAULT_CHUNK_CHARS = 800
DEFAULT_OVERLAP_CHARS = 160
#: What the orchestrator adds to every step's input; not the retriever's to validate.
_STEP_KEYS = frozenset({"action", "acceptance_criteria"})

SearchMethod = Literal["vector", "keyword", "hybrid"]


class _RetrieverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _without_step_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in _STEP_KEYS and k[:1] != "_"}
        return data


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=500, description="URI or name of the document.")
    text: str = Field(min_length=1, max_length=2_000_000)
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Stored with every chunk; filterable by key."
    )


class RetrieverIngestInput(_RetrieverIn):
    op: Literal["ingest"]
    documents: list[Document] = Field(min_length=1, max_length=1000)
    collection: str = Field(default=DEFAULT_COLLECTION, pattern=COLLECTION_PATTERN)
    chunk_chars: int = Field(default=DEFAULT_CHUNK_CHARS, ge=200, le=4000)
    overlap_chars: int = Field(default=DEFAULT_OVERLAP_CHARS, ge=0, le=1000)
    replace: bool = Field(
        default=True, description="Drop chunks previously stored for the same sources first."
    )


class RetrieverForgetInput(_RetrieverIn):
    """Delete the chunks of stored documents (``metadata.document_id``) from the caller's corpus."""

    op: Literal["forget"]
    document_ids: list[str] = Field(min_length=1, max_length=100)
    collection: str = Field(default=DEFAULT_COLLECTION, pattern=COLLECTION_PATTERN)


class RetrieverSearchInput(_RetrieverIn):
    """OctoLLM's retriever contract. The digest's default ``min_relevance_score`` of 0.5 was
    tuned for Elasticsearch's score/10; octollm's keyword and hybrid scales are stricter (see
    ``octollm.memory.keyword`` and ``fusion``), so the default is 0."""

    op: Literal["search"] = "search"
    query: str = Field(min_length=1, max_length=500)
    method: SearchMethod = "hybrid"
    limit: int = Field(default=10, ge=1, le=100)
    filters: dict[str, Any] = Field(default_factory=dict)
    min_relevance_score: float = Field(default=0.0, ge=0.0, le=1.0)
    include_citations: bool = True
    collection: str = Field(default=DEFAULT_COLLECTION, pattern=COLLECTION_PATTERN)


def _retriever_op(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("op", "search")
    return getattr(value, "op", None)


class RetrieverInput(
    RootModel[
        Annotated[
            Annotated[RetrieverSearchInput, Tag("search")]
            | Annotated[RetrieverIngestInput, Tag("ingest")]
            | Annotated[RetrieverForgetInput, Tag("forget")],
            Discriminator(
                _retriever_op,
                custom_error_type="unknown_op",
                custom_error_message="op must be 'search', 'ingest' or 'forget'",
            ),
        ]
    ]
):
    """``search`` a collection (the default op), ``ingest`` documents, or ``forget`` them."""


class Citation(ArmOutput):
    """``document[start:end]`` of the ingested source is exactly the quoted content."""

    source: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    document_id: str | None = Field(default=None, description="A stored document's id.")
    title: str | None = Field(default=None, description="The stored document's title.")
    chunk: int | None = Field(default=None, ge=0, description="The chunk's index in it.")


class RetrievedChunk(ArmOutput):
    content: str
    source: str
    relevance_score: float = Field(ge=0, le=1)
    rank: int = Field(ge=1)
    metadata: dict[str, Any]
    citation: Citation | None = None


class RetrieverSearchOutput(ArmOutput):
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


class RetrieverIngestOutput(ArmOutput):
    collection: str
    documents: int = Field(ge=1)
    chunks: int = Field(ge=0)
    sources: list[str]
    embedding_model: str


class RetrieverForgetOutput(ArmOutput):
    collection: str
    document_ids: list[str]
    chunks_deleted: int = Field(ge=0)


class RetrieverOutput(
    RootModel[RetrieverSearchOutput | RetrieverIngestOutput | RetrieverForgetOutput]
):
    """What the retriever's op produced."""


# -- judge --------------------------------------------------------------------------------------


class JudgeInput(ArmInput):
    """The artefact (``code`` or ``output``; else the dependencies' outputs) and what to hold
    it to."""

    code: str | None = Field(default=None, max_length=1_000_000)
    language: str | None = Field(default=None, max_length=40, description="Default python.")
    required_names: list[str] = Field(default_factory=list, max_length=200)
    expected_schema: dict[str, Any] | None = None
    output: Any = None
    acceptance_criteria: list[str] = Field(default_factory=list, max_length=50)
    validation_types: list[str] | None = None
    use_llm_criteria: bool = False
    fail_on_invalid: bool = False
    lint_timeout_seconds: float = Field(default=10.0, gt=0, le=120)


class ValidationIssue(ArmOutput):
    severity: Literal["error", "warning", "info"]
    type: str
    message: str
    location: dict[str, Any] | None = None
    suggestion: str | None = None


class CriterionVerdict(ArmOutput):
    criterion: str
    status: Literal["passed", "failed", "undecided"]
    why: str
    method: Literal["deterministic", "llm", "none"]


class JudgeOutput(ArmOutput):
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

SafetyCheck = Literal["pii", "secrets", "injection", "all"]
RedactionStyle = Literal["token", "structure"]
InjectionMode = Literal["strict", "standard", "relaxed"]


def _all_checks() -> list[SafetyCheck]:
    return ["all"]


class GuardianInput(ArmInput):
    """Screen ``text``, or (without it) every string in the dependencies' outputs."""

    text: str | None = Field(default=None, max_length=1_000_000)
    check_types: list[SafetyCheck] = Field(default_factory=_all_checks, max_length=4)
    redact: bool = True
    style: RedactionStyle = "token"
    block_on_high_risk: bool = True
    injection_mode: InjectionMode = "relaxed"


class SafetyIssue(BaseModel):
    model_config = ConfigDict(extra="allow")  # ``path`` when dependencies were scanned

    type: Literal["pii", "secret", "injection"]
    subtype: str
    risk_level: Literal["none", "low", "medium", "high", "critical"]
    message: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    confidence: float = Field(ge=0, le=1)


class GuardianOutput(ArmOutput):
    safe: bool
    risk_level: Literal["none", "low", "medium", "high", "critical"]
    blocked: bool
    issues: list[SafetyIssue]
    sanitized_text: str | None
    metadata: dict[str, Any]
    sanitized_outputs: Any = None
    edge_flag: dict[str, Any] | None = Field(
        default=None, description="Set when the API's edge flagged the task: policy and kinds."
    )


#: Each built-in arm's input model and output model (the arms declare the same pair).
ARM_CONTRACTS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "planner": (PlannerInput, PlannerArmOutput),
    "coder": (CoderInput, CoderOutput),
    "executor": (ExecutorInput, ExecutorOutput),
    "retriever": (RetrieverInput, RetrieverOutput),
    "judge": (JudgeInput, JudgeOutput),
    "guardian": (GuardianInput, GuardianOutput),
}
