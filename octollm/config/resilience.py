"""Settings for resilience: retries and the shared circuit breaker of LLM provider calls, and
the bounds of direct arm-to-arm calls.

Mounted on ``Settings`` as ``resilience``: ``OCTOLLM_RESILIENCE__LLM_ATTEMPTS``,
``OCTOLLM_RESILIENCE__BREAKER_FAILURE_THRESHOLD``, ...
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ResilienceSettings(BaseModel):
    llm_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="HTTP attempts per LLM call (1: no retry). Retried: 429, 5xx, 408, timeouts "
        "and connection errors; never other 4xx.",
    )
    backoff_base_seconds: float = Field(
        default=0.5, gt=0, description="First retry waits about this long (x0.5-1.5 jitter)."
    )
    backoff_max_seconds: float = Field(default=8.0, gt=0, description="Cap of one backoff wait.")
    max_retry_after_seconds: float = Field(
        default=20.0,
        ge=0,
        description="A Retry-After up to this long is waited in-process; a longer one is "
        "raised, and the step is retried by the orchestrator after it instead.",
    )
    breaker_enabled: bool = Field(
        default=True, description="Share one circuit breaker per endpoint+model via Redis."
    )
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Failures within the window that open the breaker."
    )
    breaker_window_seconds: float = Field(
        description="Window in which breaker_failure_threshold failures open the breaker.",
        default=30.0,
        gt=0,
    )
    breaker_reset_seconds: float = Field(
        default=30.0, gt=0, description="How long an open breaker fails fast before a probe."
    )
    breaker_probe_seconds: float = Field(
        default=130.0,
        gt=0,
        description="A half-open probe that has not reported after this long is presumed lost "
        "(its worker died) and another caller may probe; keep it above the LLM call timeout.",
    )
    arm_call_timeout_seconds: float = Field(
        default=120.0, gt=0, description="How long an arm waits for another arm's answer."
    )
    arm_call_attempts: int = Field(
        default=2, ge=1, le=5, description="Attempts of one arm-to-arm call (timeouts retried)."
    )
