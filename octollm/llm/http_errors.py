"""How the answers of an OpenAI-compatible endpoint map onto octollm's error tree.

429                                 RateLimited(retry_after=<Retry-After>)
5xx, 408                            LLMUnavailable          (retryable)
other 4xx                           PermanentError          details["reason"] says which
400/422/500 naming response_format  ResponseFormatRejected  (internal: the client downgrades;
                                    for a json_schema or json_object request)
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from octollm.errors import LLMUnavailable, PermanentError, RateLimited


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ResponseFormatRejected(Exception):
    """The server does not accept ``response_format: json_schema`` (internal signal)."""


def http_error(response: httpx.Response, body: dict[str, Any]) -> Exception:
    status = response.status_code
    message = error_message(response)
    details: dict[str, Any] = {"status": status, "upstream_message": message[:500]}
    asked_schema = body.get("response_format", {}).get("type") in ("json_schema", "json_object")
    if asked_schema and status in (400, 422, 500) and "response_format" in response.text:
        return ResponseFormatRejected(message)
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return RateLimited(
            f"the LLM endpoint is rate limiting (HTTP 429): {message}"[:1000],
            retry_after=retry_after,
            details={**details, "reason": "LLM_RATE_LIMITED"},
        )
    if status >= 500 or status == 408:
        return LLMUnavailable(
            f"the LLM endpoint failed (HTTP {status}): {message}"[:1000],
            details={**details, "reason": "LLM_HTTP_ERROR"},
        )
    return PermanentError(
        f"the LLM endpoint refused the request (HTTP {status}): {message}"[:1000],
        details={**details, "reason": "LLM_REQUEST_REFUSED"},
    )


def error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if data.get("detail"):
            return str(data["detail"])
    return response.text[:500]
