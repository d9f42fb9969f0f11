"""What an arm returns: its output, an error, and where the output came from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from octollm.errors import OctoError


class ErrorCategory(StrEnum):
    VALIDATION = "validation"
    AUTHENTICATION = "authentication"
    AUTHORIZATION = "authorization"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    BUDGET = "budget"
    CANCELLED = "cancelled"
    INTERNAL = "internal"
    EXTERNAL = "external"


class ErrorInfo(BaseModel):
    """A failure as stored and reported: a stable code, a category and a human message."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    category: ErrorCategory
    message: str = Field(min_length=1, max_length=4000)
    retryable: bool = False
    retry_after: float | None = Field(default=None, ge=0)
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        if isinstance(exc, OctoError):
            return cls(
                code=exc.code,
                category=ErrorCategory(exc.category),
                message=(exc.message or exc.code)[:4000],
                retryable=exc.retryable,
                retry_after=exc.retry_after,
                details=exc.details,
            )
        text = f"{type(exc).__name__}: {exc}"[:4000]
        return cls(code="INTERNAL_ERROR", category=ErrorCategory.INTERNAL, message=text)


class TokenUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class ProvenanceMetadata(BaseModel):
    """Where an output came from (OctoLLM's provenance contract)."""

    model_config = ConfigDict(extra="forbid")

    arm: str
    task_id: str
    step_id: str
    attempt: int = Field(ge=1)
    started_at: datetime
    finished_at: datetime
    duration_ms: float = Field(ge=0)
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    cost_usd: float = Field(default=0.0, ge=0)
    model: str | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    processing_chain: list[str] = Field(default_factory=list)
    worker: str | None = None


class ArmResponse(BaseModel):
    """The standard envelope around one arm invocation."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    step_id: str
    arm: str
    success: bool
    output: dict[str, Any] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    provenance: ProvenanceMetadata
