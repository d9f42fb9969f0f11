"""The request middleware answers an unexpected exception with the problem shape, not a bare
500, and echoes the request id."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from octollm.api.middleware import RequestContextMiddleware


async def _crash(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("boom")


async def _call() -> httpx.Response:
    transport = httpx.ASGITransport(app=RequestContextMiddleware(_crash))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get("/api/v1/tasks", headers={"X-Request-ID": "req-abc"})


def test_an_unexpected_exception_becomes_a_problem_500_with_the_request_id() -> None:
    resp = asyncio.run(_call())
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "req-abc"
    assert resp.json() == {
        "error": {
            "code": "INTERNAL_ERROR",
            "message": "internal error",
            "category": "internal",
            "details": {},
        },
        "request_id": "req-abc",
    }
    assert "boom" not in resp.text, "no internals leak"
