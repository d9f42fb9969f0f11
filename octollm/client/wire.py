"""What the sync and async clients share: request bodies, response decoding, retry policy."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel
from tenacity import RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from octollm.client.errors import (
    OctoAPIError,
    RateLimitError,
    ServiceUnavailableError,
    from_response,
    wait_seconds,
)

M = TypeVar("M", bound=BaseModel)

API = "/api/v1"
USER_AGENT = "octollm-client/1"


def base_headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if api_key:
        headers["X-API-Key"] = api_key
    return headers


def submission(goal: str, fields: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"goal": goal}
    for name, value in fields.items():
        if value is None:
            continue
        body[name] = value.isoformat() if isinstance(value, datetime) else value
    return body


def submit_headers(
    idempotency_key: str | None, use_cache: bool, request_id: str | None = None
) -> dict[str, str]:
    """Every submit carries an Idempotency-Key (generated when not given), so retrying it
    after a lost response cannot create a second task; ``request_id`` (your web request's id)
    travels as ``X-Request-ID`` into the task's logs and events."""
    headers = {"Idempotency-Key": idempotency_key or f"client-{uuid.uuid4()}"}
    if not use_cache:
        headers["Cache-Control"] = "no-cache"
    if request_id:
        headers["X-Request-ID"] = request_id
    return headers


def list_params(
    status: str | list[str] | None,
    priority: str | list[str] | None,
    created_after: datetime | None,
    created_before: datetime | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = [status] if isinstance(status, str) else list(status)
    if priority:
        params["priority"] = [priority] if isinstance(priority, str) else list(priority)
    if created_after:
        params["created_after"] = created_after.isoformat()
    if created_before:
        params["created_before"] = created_before.isoformat()
    if cursor:
        params["cursor"] = cursor
    return params


def decode(response: httpx.Response, model: type[M]) -> M:
    if response.status_code >= 400:
        raise from_response(response)
    return model.model_validate(response.json())


def check(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise from_response(response)


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, RateLimitError | ServiceUnavailableError):
        return True
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.RemoteProtocolError)


def retry_options(max_retries: int, max_wait: float) -> dict[str, Any]:
    """tenacity options: retry 429/503 and connection failures, waiting ``Retry-After`` when
    the server sent one, otherwise exponential backoff with jitter."""
    backoff = wait_exponential_jitter(multiplier=0.25, max=max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        fallback = backoff(state)
        if isinstance(exc, OctoAPIError):
            return wait_seconds(exc.retry_after, fallback, max_wait)
        return fallback

    return {
        "retry": retry_if_exception(retryable),
        "stop": stop_after_attempt(max_retries + 1),
        "wait": wait,
        "reraise": True,
    }


Sleep = Callable[[float], Any]
