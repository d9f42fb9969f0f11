"""The API's wire shapes (requests and responses), as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from octollm.contracts.arm_capability import ArmHealth
from octollm.contracts.task import TaskContract, new_task_id
from octollm.security.apikeys import Scope

BATCH_MAX_ITEMS = 100


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ProblemBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. NOT_FOUND.")
    message: str
    category: str
    details: dict[str, Any] = Field(default_factory=dict)


class Problem(BaseModel):
    """Every error the API returns."""

    error: ProblemBody
    request_id: str | None = None


def _nul_at(value: Any, path: str) -> str | None:
    """The path of the first string (or key) holding a NUL character: Postgres rejects it."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return here
            found = _nul_at(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


class TaskSubmission(TaskContract):
    """A ``TaskContract`` as a caller sends it: the server assigns ``task_id`` and
    ``created_at``. Give a ``goal`` to be planned, or an explicit ``plan`` too."""

    task_id: SkipJsonSchema[str] = Field(default_factory=new_task_id, exclude=False)
    created_at: SkipJsonSchema[datetime] = Field(default_factory=_utcnow)

    @model_validator(mode="before")
    @classmethod
    def _server_assigned(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("task_id", "created_at"):
                if name in data:
                    raise ValueError(f"{name} is assigned by the server; leave it out")
            where = _nul_at(data, "")
            if where is not None:
                raise ValueError(f"{where or 'a key'} contains a NUL character")
        return data

    def contract(self) -> TaskContract:
        return TaskContract.model_validate(self.model_dump())


class Links(BaseModel):
    self: str
    events: str
    steps: str
    cancel: str


class Finding(BaseModel):
    field: str = Field(description="Where in the request, e.g. goal or context.notes.")
    kind: str
    subtype: str
    risk: str
    action: str | None = Field(default=None, description="block or flag, by the policy.")
    rule: str | None = Field(default=None, description="The rule that fired.")
    start: int | None = Field(default=None, description="Span start within the field.")
    end: int | None = None
    score: float | None = Field(default=None, description="How sure the rule is (0-1).")


class ScreeningReport(BaseModel):
    action: Literal["passed", "flagged", "redacted", "warned"]
    policy: str | None = None
    findings: list[Finding] = Field(default_factory=list)


class TaskAccepted(BaseModel):
    task_id: str
    status: str
    created_at: datetime
    links: Links
    cache_hit: bool = Field(
        default=False, description="True when a completed identical request answered this one."
    )
    idempotent_replay: bool = Field(
        default=False, description="True when the Idempotency-Key matched an earlier request."
    )
    screening: ScreeningReport | None = None
    result: dict[str, Any] | None = Field(default=None, description="Set on a cache hit.")


class Progress(BaseModel):
    completed_steps: int
    total_steps: int
    current_step: str | None = None
    percentage: float = Field(ge=0, le=100)


class TaskView(BaseModel):
    task_id: str
    status: str
    priority: str
    goal: str
    progress: Progress
    answer: str | None = Field(
        default=None, description="The integrated answer (also result.answer), once finished."
    )
    verdict: str | None = Field(
        default=None, description="valid | invalid | unverified (result.verdict.status)."
    )
    rounds: int = Field(default=0, description="Verify-and-repair rounds (len(result.rounds)).")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    provenance: list[dict[str, Any]] = Field(default_factory=list)
    tokens_used: int
    cost_usd: float
    request_id: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    links: Links
    budget: dict[str, Any] | None = Field(
        default=None, description="The task's limits (tokens, time, cost, retries) as submitted."
    )
    screening: dict[str, Any] | None = Field(
        default=None, description="The edge's flag, when screening flagged this task's input."
    )


class TaskResultView(BaseModel):
    """A task's result, first-class: the answer, artefacts by name, citations, the verdict
    (each criterion passed / failed / undecided and why) and the repair rounds."""

    task_id: str
    status: str
    answer: str | None = None
    artefacts: dict[str, Any] = Field(default_factory=dict)
    citations: list[dict[str, Any]] = Field(default_factory=list)
    verdict: dict[str, Any] | None = None
    rounds: list[dict[str, Any]] = Field(default_factory=list)
    replans: list[dict[str, Any]] = Field(default_factory=list)
    error: dict[str, Any] | None = None


class TaskSummary(BaseModel):
    task_id: str
    tenant: str
    status: str
    priority: str
    goal: str
    tokens_used: int
    cost_usd: float
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    links: Links


class TaskCounts(BaseModel):
    total: int
    by_status: dict[str, int] = Field(description="Statuses with no task are left out.")


class TaskPage(BaseModel):
    items: list[TaskSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; null on the last page."
    )


class StepView(BaseModel):
    step_id: str
    arm: str
    action: str
    status: str
    critical: bool
    depends_on: list[str]
    level: int
    generation: int = Field(default=1, description="1, then one more per repair round.")
    attempts: int
    max_attempts: int
    input: dict[str, Any] | None = None
    worker: str | None = Field(
        default=None, description="The worker running it, or the one that produced its output."
    )
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    tokens_used: int
    cost_usd: float
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class StepList(BaseModel):
    task_id: str
    steps: list[StepView]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=BATCH_MAX_ITEMS,
        description="Each item is a TaskSubmission, validated on its own: valid items are "
        "queued even when others are rejected.",
    )


class BatchItem(BaseModel):
    index: int
    status: str = Field(description="accepted | rejected on submit; the task's status later.")
    task_id: str | None = None
    error: ProblemBody | None = None


class BatchAccepted(BaseModel):
    batch_id: str
    total: int
    accepted: int
    rejected: int
    items: list[BatchItem]


class BatchView(BaseModel):
    batch_id: str
    total: int
    accepted: int
    rejected: int
    created_at: datetime
    counts: dict[str, int] = Field(description="Accepted items by their task's current status.")
    done: bool = Field(description="Every accepted item has reached a terminal status.")
    items: list[BatchItem]


class ArmView(BaseModel):
    name: str
    installed: bool = Field(description="This installation can run it (built-in or plugin).")
    registered: bool = Field(description="Announced through POST /registry/arms.")
    capabilities: list[str]
    description: str = ""
    version: str | None = None
    healthy: bool | None = Field(
        default=None, description="Every queue of its pool has a consuming worker (null: unknown)."
    )
    workers: int | None = None
    health: ArmHealth | None = Field(
        default=None,
        description=(
            "The registry's verdict from heartbeats and recent outcomes: healthy, degraded "
            "(stale heartbeat or low recent success rate) or unavailable (no live heartbeat); "
            "null when the registry cannot be read."
        ),
    )
    heartbeat_age_seconds: float | None = Field(
        default=None, description="Age of the freshest heartbeat (null: none)."
    )
    recent_succeeded: int | None = Field(
        default=None, description="Succeeded attempts in the registry's stats window."
    )
    recent_failed: int | None = Field(
        default=None, description="Failed attempts in the registry's stats window."
    )


class ArmList(BaseModel):
    arms: list[ArmView]


class ArmRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    capabilities: list[str] = Field(min_length=1, max_length=50)
    description: str = Field(default="", max_length=2000)
    version: str | None = Field(default=None, max_length=32)
    details: dict[str, Any] = Field(default_factory=dict)
    all_tenants: bool = Field(
        default=False,
        description="Register for every tenant (admin keys only); else for the key's tenant.",
    )


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_seconds: float


class CheckView(BaseModel):
    ok: bool
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class ReadyView(BaseModel):
    ready: bool
    checks: dict[str, CheckView]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    name: str | None = Field(default=None, max_length=128)


class KeyView(BaseModel):
    key_id: str
    prefix: str
    tenant: str
    scopes: list[str]
    name: str | None = None
    created_at: datetime
    revoked_at: datetime | None = None


class KeyCreated(KeyView):
    api_key: str = Field(description="The secret key. Shown once; store it now.")


class KeyList(BaseModel):
    keys: list[KeyView]


class TenantLimitsUpdate(BaseModel):
    """Fields to change; an explicit ``null`` removes that limit, an absent field stays."""

    model_config = ConfigDict(extra="forbid")

    weight: float | None = Field(default=None, gt=0, description="Share of the fair dispatcher.")
    max_running: int | None = Field(default=None, ge=0)
    max_running_per_arm: int | None = Field(default=None, ge=0)
    max_queued_tasks: int | None = Field(default=None, ge=0)
    daily_tokens: int | None = Field(default=None, ge=0)
    daily_cost_usd: float | None = Field(default=None, ge=0)


class TenantUsage(BaseModel):
    unfinished_tasks: int
    held_canvases: int
    running_steps: int
    tokens_today: int
    cost_usd_today: float


class TenantLimitsView(BaseModel):
    tenant: str
    weight: float
    max_running: int | None = None
    max_running_per_arm: int | None = None
    max_queued_tasks: int | None = None
    daily_tokens: int | None = None
    daily_cost_usd: float | None = None
    usage: TenantUsage
