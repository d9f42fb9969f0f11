"""One error shape for every failure: ``{error: {code, message, category, details}, request_id}``.

Every ``OctoError`` maps through its class (``http_status``, ``code``, ``category``), request
validation errors name the field, unknown routes and methods keep their status, and anything
unexpected becomes a 500 whose details never include the exception text (the request
context middleware answers it, so the response still carries ``X-Request-ID``). A 503 (a
backing service is away) always carries ``Retry-After`` and a fixed message per kind of outage;
the driver's text, hosts and ports go to the log only.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from octollm.errors import LLMUnavailable, OctoError, ServiceUnavailable, StorageUnavailable
from octollm.store.db import DataError

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    400: ("BAD_REQUEST", "validation"),
    401: ("UNAUTHORIZED", "authentication"),
    403: ("FORBIDDEN", "authorization"),
    404: ("NOT_FOUND", "not_found"),
    405: ("METHOD_NOT_ALLOWED", "validation"),
    406: ("NOT_ACCEPTABLE", "validation"),
    409: ("CONFLICT", "conflict"),
    413: ("PAYLOAD_TOO_LARGE", "validation"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "validation"),
    422: ("VALIDATION_ERROR", "validation"),
    429: ("RATE_LIMITED", "rate_limit"),
}


def request_id_of(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def problem(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    category: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "category": category,
            "details": details or {},
        },
        "request_id": request_id_of(request),
    }
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        head, rest = parts[0], parts[1:]
        return f"{head}.{'.'.join(rest)}" if rest else head
    return ".".join(parts)


def validation_details(errors: Any) -> dict[str, Any]:
    items = [
        {"field": _field(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]
    return {"errors": items}


#: Retry-After of a 503 whose error names no retry time (a backing service is away).
UNAVAILABLE_RETRY_AFTER = 5

_PUBLIC_MESSAGES: tuple[tuple[type[OctoError], str], ...] = (
    (StorageUnavailable, "storage is temporarily unavailable; retry later"),
    (LLMUnavailable, "the language model is temporarily unavailable; retry later"),
    (ServiceUnavailable, "a backing service is temporarily unavailable; retry later"),
)


def _public_message(exc: OctoError) -> str:
    for kind, message in _PUBLIC_MESSAGES:
        if isinstance(exc, kind):
            return message
    return "the service is temporarily unavailable; retry later"


def octo_error_response(request: Request, exc: OctoError) -> JSONResponse:
    headers: dict[str, str] = {}
    details = dict(exc.details)
    message = exc.message
    if exc.http_status == 503:
        # An outage: the caller gets when to come back, never the driver's text, hosts or
        # ports (those go to the log).
        log.warning(
            "request_failed",
            code=exc.code,
            status=exc.http_status,
            error=exc.message,
            details=exc.details,
        )
        message, details = _public_message(exc), {}
        retry_after = exc.retry_after if exc.retry_after is not None else UNAVAILABLE_RETRY_AFTER
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        details["retry_after"] = retry_after
    elif exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        details.setdefault("retry_after", exc.retry_after)
    if exc.http_status >= 500 and exc.http_status != 503:
        log.warning("request_failed", code=exc.code, status=exc.http_status, error=exc.message)
    return problem(
        request,
        exc.http_status,
        exc.code,
        message,
        category=exc.category,
        details=details,
        headers=headers or None,
    )


def install(app: FastAPI) -> None:
    async def on_octo(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OctoError)
        return octo_error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = validation_details(exc.errors())
        first = details["errors"][0] if details["errors"] else {"field": "request", "message": ""}
        return problem(
            request,
            422,
            "VALIDATION_ERROR",
            f"{first['field']}: {first['message']}",
            category="validation",
            details=details,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code, category = _HTTP_CODES.get(exc.status_code, ("HTTP_ERROR", "internal"))
        message = exc.detail if isinstance(exc.detail, str) else code.lower()
        return problem(
            request,
            exc.status_code,
            code,
            message,
            category=category,
            headers=dict(exc.headers) if exc.headers else None,
        )

    async def on_data(request: Request, exc: Exception) -> JSONResponse:
        log.info("request_data_refused", error_type=type(exc).__name__)
        return problem(
            request,
            422,
            "INVALID_INPUT",
            "the request holds a value the database cannot store "
            "(a NUL character, or a number out of range)",
            category="validation",
        )

    app.add_exception_handler(OctoError, on_octo)
    app.add_exception_handler(DataError, on_data)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
