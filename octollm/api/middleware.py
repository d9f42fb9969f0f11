"""The request context: ``X-Request-ID`` in and out, the trace (``traceparent``), log context,
one access line, metrics.

A pure ASGI middleware (no ``BaseHTTPMiddleware``), so the endpoint runs in the same task and
the context bound here (and by authentication: ``tenant``) is visible to the access line. It
also adds headers that handlers left in ``scope["state"]["response_headers"]`` (the rate-limit
headers) to every response, errors included, and answers an unexpected exception with the
problem shape instead of a bare 500.

A request continues the caller's W3C ``traceparent`` (or starts a trace) in a new span; tasks
published while handling it carry that trace to every step (``octollm.observability.tracing``).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from octollm.api import metrics
from octollm.logging import bind_unit_of_work
from octollm.observability import tracing

log = structlog.get_logger("octollm.api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def accept_request_id(value: str | None) -> str:
    """The caller's id when it is sane, otherwise a fresh one."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(_header(scope, b"x-request-id"))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        state.setdefault("response_headers", {})
        bind_unit_of_work(request_id=request_id)
        span = tracing.continue_trace(_header(scope, b"traceparent"))
        began = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
                status["started"] = True
                headers = list(message.get("headers", []))
                extra = {"x-request-id": request_id, **state.get("response_headers", {})}
                present = {bytes(k).lower() for k, _ in headers}
                for name, value in extra.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), str(value).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        except Exception:
            log.exception("request_crashed", path=scope.get("path"))
            if scope["type"] != "http" or status["started"]:
                raise
            await _internal_error(send_wrapped, request_id)
        finally:
            if scope["type"] == "http":
                self._account(scope, int(status["code"]), began)
            tracing.reset(span)

    @staticmethod
    def _account(scope: Scope, status: int, began: float) -> None:
        elapsed = time.perf_counter() - began
        route = _route_of(scope)
        method = str(scope.get("method", "GET"))
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_LATENCY.labels(method, route).observe(elapsed)
        if route not in ("/metrics", "/health"):
            log.info(
                "http_request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


async def send_problem(
    send: Send,
    status: int,
    error: dict[str, Any],
    request_id: str | None,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer with the problem shape from ASGI code, where no FastAPI ``Request`` exists."""
    body = json.dumps({"error": error, "request_id": request_id}).encode()
    extra = [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _internal_error(send: Send, request_id: str) -> None:
    error = {
        "code": "INTERNAL_ERROR",
        "message": "internal error",
        "category": "internal",
        "details": {},
    }
    await send_problem(send, 500, error, request_id)


class BodyLimitMiddleware:
    """Refuse a request body over ``max_bytes`` with ``413`` in the problem shape.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    without one (chunked) is read up to the limit and handed on whole, or refused as soon as
    it passes the limit. Nothing over the limit reaches a handler or a JSON parser. Streams
    (SSE, WebSocket) carry no request body and are left alone, as ``shedding.counted`` says.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _is_stream(scope):
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, int(declared))
            return
        if str(scope.get("method", "GET")) in ("GET", "HEAD", "OPTIONS") and declared is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, None)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, send: Send, declared: int | None) -> None:
        log.warning("request_too_large", path=scope.get("path"), declared_bytes=declared)
        error = {
            "code": "PAYLOAD_TOO_LARGE",
            "message": f"the request body is over the limit of {self.max_bytes} bytes",
            "category": "validation",
            "details": {"max_bytes": self.max_bytes},
        }
        request_id = scope.get("state", {}).get("request_id")
        await send_problem(send, 413, error, request_id, {"Connection": "close"})


def _is_stream(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path.endswith("/events") or path.startswith("/stream/")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
