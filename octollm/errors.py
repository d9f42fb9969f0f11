"""octollm's error tree. Every error the system raises on purpose is an ``OctoError``.

Errors carry fields, not formatted strings; retryability comes from the class.

    OctoError                         code, category, retryable, retry_after, details
    ├── InvalidInput                  validation      (bad request, bad plan, bad setting)
    │   ├── InvalidPlan               validation      (unknown arm, cycle, dangling dependency)
    │   └── ConfigurationError        configuration   (a required setting is missing or contradictory)
    ├── NotFound                      not_found       (task, step, key...)
    ├── Conflict                      conflict        (illegal state change, e.g. cancel a finished task)
    ├── Unauthorized                  authentication
    ├── Forbidden                     authorization
    ├── BudgetExceeded                budget          (tokens, cost, time of a task)
    ├── Cancelled                     cancelled       (the task was cancelled while a step ran)
    ├── PermanentError                internal        (an arm failed in a way a retry will not fix)
    │   ├── ArmRefused                validation      (an arm refused its input, e.g. a sandbox violation)
    │   └── InvalidOutput             internal        (an arm's output does not match its output model)
    └── TransientError                (retryable)     (a retry with backoff may succeed)
        ├── RateLimited               rate_limit      retry_after
        ├── StepTimeout               timeout
        ├── ServiceUnavailable        external        (LLM endpoint, broker, ...)
        │   └── LLMUnavailable        external
        └── StorageUnavailable        external        (the database is down)

This module imports nothing from octollm: it is the bottom of the layer stack.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OctoError(Exception):
    """Base of every error octollm raises on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    category: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.details: dict[str, Any] = details or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidInput(OctoError):
    code = "INVALID_INPUT"
    category = "validation"
    http_status = 422


class InvalidPlan(InvalidInput):
    code = "INVALID_PLAN"


class ConfigurationError(InvalidInput, RuntimeError):
    """A setting the operation needs is missing or contradicts another.

    ``details`` names the setting (``setting``: its dotted path in ``Settings``, ``env``: its
    variable) and ``hint`` says what to do in one line. An ``InvalidInput`` (the CLI exits 2,
    as for any bad input) and a ``RuntimeError``, which is what callers caught before the class
    existed (``except RuntimeError`` around ``redis_url()``).
    """

    code = "CONFIGURATION_ERROR"
    category = "configuration"


class NotFound(OctoError):
    code = "NOT_FOUND"
    category = "not_found"
    http_status = 404


class Conflict(OctoError):
    code = "CONFLICT"
    category = "conflict"
    http_status = 409


class Unauthorized(OctoError):
    code = "UNAUTHORIZED"
    category = "authentication"
    http_status = 401


class Forbidden(OctoError):
    code = "FORBIDDEN"
    category = "authorization"
    http_status = 403


class BudgetExceeded(OctoError):
    code = "BUDGET_EXCEEDED"
    category = "budget"
    http_status = 402


class QuotaExceeded(BudgetExceeded):
    """A tenant's daily token or cost quota is used up (``octollm tenants set``)."""

    code = "QUOTA_EXCEEDED"
    http_status = 429


class Cancelled(OctoError):
    code = "CANCELLED"
    category = "cancelled"
    http_status = 409


class PermanentError(OctoError):
    """An arm failed in a way that retrying will not fix."""

    code = "ARM_FAILED"
    category = "internal"


class ArmRefused(PermanentError):
    """An arm refused its input (policy, sandbox or capability violation)."""

    code = "ARM_REFUSED"
    category = "validation"
    http_status = 403


class InvalidOutput(PermanentError):
    """An arm returned an output that does not match its declared output model."""

    code = "INVALID_OUTPUT"


class TransientError(OctoError):
    """A failure that a retry with backoff may cure."""

    code = "TRANSIENT_ERROR"
    category = "external"
    retryable = True
    http_status = 503


class RateLimited(TransientError):
    code = "RATE_LIMITED"
    category = "rate_limit"
    http_status = 429


class StepTimeout(TransientError):
    code = "EXECUTION_TIMEOUT"
    category = "timeout"
    http_status = 504


class ServiceUnavailable(TransientError):
    code = "SERVICE_UNAVAILABLE"


class LLMUnavailable(ServiceUnavailable):
    code = "LLM_UNAVAILABLE"


class StorageUnavailable(ServiceUnavailable):
    code = "STORAGE_UNAVAILABLE"


__all__ = [
    "ArmRefused",
    "BudgetExceeded",
    "Cancelled",
    "ConfigurationError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "InvalidPlan",
    "LLMUnavailable",
    "NotFound",
    "OctoError",
    "PermanentError",
    "QuotaExceeded",
    "RateLimited",
    "ServiceUnavailable",
    "StepTimeout",
    "StorageUnavailable",
    "TransientError",
    "Unauthorized",
]
