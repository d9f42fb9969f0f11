"""The request size limit: a body over ``max_body_bytes`` gets 413 in the problem shape before
any handler or parser sees it, declared or chunked; smaller bodies arrive whole; streams are
left alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from octollm.api.middleware import BodyLimitMiddleware, RequestContextMiddleware

MIB = 1024 * 1024
seen: list[int] = []


async def _echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seen.append(len(body))
    payload = str(len(body)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


APP = RequestContextMiddleware(BodyLimitMiddleware(_echo_size, max_bytes=MIB))


async def _post(
    content: bytes | AsyncIterator[bytes], path: str = "/api/v1/tasks"
) -> httpx.Response:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.post(path, content=content, headers={"X-Request-ID": "req-big"})


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for _ in range(total // size):
        yield b"x" * size


def test_a_2_mib_body_gets_413_problem_json_and_never_reaches_the_handler() -> None:
    seen.clear()
    resp = asyncio.run(_post(b"{" + b" " * (2 * MIB) + b"}"))
    assert resp.status_code == 413
    assert resp.json() == {
        "error": {
            "code": "PAYLOAD_TOO_LARGE",
            "message": f"the request body is over the limit of {MIB} bytes",
            "category": "validation",
            "details": {"max_bytes": MIB},
        },
        "request_id": "req-big",
    }
    assert seen == []


def test_a_chunked_2_mib_body_without_content_length_gets_413_too() -> None:
    seen.clear()
    resp = asyncio.run(_post(_chunks(2 * MIB)))
    assert resp.status_code == 413
    assert seen == []


def test_a_body_at_the_limit_arrives_whole() -> None:
    seen.clear()
    resp = asyncio.run(_post(_chunks(MIB)))
    assert resp.status_code == 200
    assert resp.text == str(MIB)
    assert seen == [MIB]


def test_streams_are_exempt() -> None:
    seen.clear()
    resp = asyncio.run(_post(b"x" * (2 * MIB), path="/api/v1/tasks/t-1/events"))
    assert resp.status_code == 200
