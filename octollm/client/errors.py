"""The API's errors as exceptions, one class per status family.

OctoClientError
├── OctoAPIError             status, code, message, details, request_id, retry_after
│   ├── BadRequestError      400
│   ├── AuthenticationError  401
│   ├── PermissionDeniedError 403
│   ├── NotFoundError        404
│   ├── ConflictError        409
│   ├── ValidationError      422
│   ├── RateLimitError       429 (retried, honouring Retry-After)
│   ├── ServerError          5xx
│   │   └── ServiceUnavailableError 503 (retried, honouring Retry-After)
└── WaitTimeout              wait_for_completion ran out of time (also a TimeoutError)
"""

from __future__ import annotations

import math
from typing import Any

import httpx


class OctoClientError(Exception):
    """Base of every error the client raises on purpose."""


class OctoAPIError(OctoClientError):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id
        self.retry_after = retry_after


class BadRequestError(OctoAPIError): ...


class AuthenticationError(OctoAPIError): ...


class PermissionDeniedError(OctoAPIError): ...


class NotFoundError(OctoAPIError): ...


class ConflictError(OctoAPIError): ...


class ValidationError(OctoAPIError): ...


class RateLimitError(OctoAPIError): ...


class ServerError(OctoAPIError): ...


class ServiceUnavailableError(ServerError): ...


class WaitTimeout(OctoClientError, TimeoutError):
    def __init__(self, task_id: str, status: str, timeout: float) -> None:
        super().__init__(f"task {task_id} is still {status} after {timeout} s")
        self.task_id = task_id
        self.status = status


_BY_STATUS: dict[int, type[OctoAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def from_response(response: httpx.Response) -> OctoAPIError:
    """The exception for an error response (problem JSON, or whatever a proxy sent)."""
    try:
        body = response.json()
        error = body.get("error", {}) if isinstance(body, dict) else {}
    except ValueError:
        body, error = {}, {}
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else OctoAPIError
    message = error.get("message") if isinstance(error, dict) else None
    return cls(
        response.status_code,
        str(error.get("code", "HTTP_ERROR")) if isinstance(error, dict) else "HTTP_ERROR",
        str(message or response.reason_phrase or "error"),
        details=error.get("details") if isinstance(error, dict) else None,
        request_id=body.get("request_id") if isinstance(body, dict) else None,
        retry_after=_retry_after(response),
    )


def wait_seconds(retry_after: float | None, fallback: float, cap: float) -> float:
    if retry_after is None:
        return min(fallback, cap)
    return min(float(math.ceil(retry_after * 1000) / 1000), cap)
