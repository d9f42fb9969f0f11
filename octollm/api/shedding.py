"""Load shedding: a bound on the requests one API process works on at once.

Past its capacity an API process that accepts everything queues requests in front of its
thread pool and database pool, and every caller waits longer and longer (measured: at 50
submits/s on 2 cores, p50 7 s and callers timing out, docs/benchmarks-api.md). With a bound, a
request over it is answered at once with ``503`` + ``Retry-After`` in the problem shape, so
clients back off and the requests that are admitted keep their latency.

Long-lived streams (SSE, WebSocket) are not counted: they wait on Redis, not on the pools, and
would otherwise hold a slot for up to an hour. Probes (``/health``, ``/ready``, ``/metrics``)
are never shed, so an overloaded process is not mistaken for a dead one.
"""

from __future__ import annotations

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from octollm.api import metrics
from octollm.api.middleware import send_problem

log = structlog.get_logger(__name__)

EXEMPT = frozenset({"/health", "/ready", "/metrics"})


def counted(scope: Scope) -> bool:
    """Whether a request takes a slot: plain HTTP requests other than streams and probes."""
    if scope["type"] != "http":
        return False
    path = str(scope.get("path", ""))
    return path not in EXEMPT and not path.endswith("/events") and not path.startswith("/stream/")


class LoadSheddingMiddleware:
    """Answer ``503`` when ``max_in_flight`` counted requests are already being handled.

    One event loop runs the middleware, so the counter needs no lock."""

    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_seconds: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after_seconds
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not counted(scope):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            metrics.SHED.inc()
            log.warning("request_shed", path=scope.get("path"), in_flight=self.in_flight)
            await self._refuse(scope, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _refuse(self, scope: Scope, send: Send) -> None:
        error = {
            "code": "OVERLOADED",
            "message": "the API is at capacity; retry after the Retry-After delay",
            "category": "rate_limit",
            "details": {"max_in_flight": self.max_in_flight},
        }
        request_id = scope.get("state", {}).get("request_id")
        await send_problem(send, 503, error, request_id, {"Retry-After": str(self.retry_after)})
