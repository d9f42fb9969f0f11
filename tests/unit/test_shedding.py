"""Load shedding: over ``max_in_flight`` a request gets 503 + Retry-After at once; streams and
probes are never counted or shed."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from octollm.api.shedding import LoadSheddingMiddleware, counted


class Gate:
    """An ASGI app that answers 200 once ``release`` is set; counts requests it entered."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        if scope["path"] == "/slow":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _overload() -> tuple[list[int], httpx.Response, int, list[int]]:
    gate = Gate()
    app = LoadSheddingMiddleware(gate, max_in_flight=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        slow = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        while app.in_flight < 2:
            await asyncio.sleep(0.01)
        shed = await client.get("/api/v1/tasks")
        probes = [(await client.get(p)).status_code for p in ("/health", "/ready", "/metrics")]
        gate.release.set()
        done = [r.status_code for r in await asyncio.gather(*slow)]
        after = (await client.get("/api/v1/tasks")).status_code
    assert app.in_flight == 0
    return done, shed, after, probes


def test_a_request_over_the_bound_gets_503_with_retry_after_and_the_problem_shape() -> None:
    done, shed, after, probes = asyncio.run(_overload())
    assert done == [200, 200], "admitted requests finish normally"
    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    body = shed.json()
    assert body["error"]["code"] == "OVERLOADED"
    assert body["error"]["details"] == {"max_in_flight": 2}
    assert probes == [200, 200, 200], "probes are never shed"
    assert after == 200, "a slot is free again once a request finishes"


def test_streams_and_probes_take_no_slot() -> None:
    def http(path: str) -> Scope:
        return {"type": "http", "path": path}

    assert counted(http("/api/v1/tasks"))
    assert counted(http("/api/v1/tasks/task-1/steps"))
    assert not counted(http("/api/v1/tasks/task-1/events"))
    assert not counted(http("/stream/tasks/task-1"))
    assert not counted(http("/health"))
    assert not counted({"type": "websocket", "path": "/ws/c1"})
