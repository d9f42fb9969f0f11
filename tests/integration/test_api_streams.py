"""SSE and WebSocket streams on real uvicorn processes, real workers, Redis and Postgres."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from octollm.api.config import ApiSettings
from octollm.api.websocket import SLOW_CONSUMER, ClientSession
from octollm.client.sse import SSEDecoder
from octollm.contracts.event import Event
from octollm.events.bus import task_stream_key
from octollm.security.apikeys import Principal
from tests.support.apiserver import api_server, api_stack, echo_plan, headers, make_key
from tests.support.stack import LiveStack
from tests.support.streams import stream_entries

__all__ = ["api_stack"]


def _stream_ids(stack: LiveStack, task_id: str) -> list[str]:
    entries = stream_entries(stack.redis(), task_id)
    return [eid.decode() for eid, _ in entries]


def _submit(url: str, key: str, body: dict[str, Any]) -> str:
    resp = httpx.post(f"{url}/api/v1/tasks", json=body, headers=headers(key), timeout=10)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["task_id"])


def _read_sse(
    url: str, key: str, task_id: str, *, last: str | None = None, stop_after: int | None = None
) -> tuple[list[tuple[str, str]], bool]:
    """(id, event type) of the frames read, and whether the ``end`` frame arrived."""
    got: list[tuple[str, str]] = []
    extra = {"Last-Event-ID": last} if last else {}
    with httpx.stream(
        "GET", f"{url}/stream/tasks/{task_id}", headers=headers(key, **extra), timeout=30
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        decoder = SSEDecoder()
        for line in resp.iter_lines():
            event = decoder.feed(line)
            if event is None:
                continue
            if event.event == "end":
                return got, True
            assert event.id is not None
            got.append((event.id, event.event))
            if stop_after is not None and len(got) >= stop_after:
                return got, False  # leaving the block drops the connection mid-task
    return got, False


def test_an_sse_client_that_reconnects_with_last_event_id_gets_every_event_exactly_once(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "acme")
    with api_server(api_stack) as api:
        task_id = _submit(api.url, key, {"goal": "five slow echo steps", "plan": echo_plan(5, 0.4)})
        first, ended = _read_sse(api.url, key, task_id, stop_after=3)
        assert not ended
        time.sleep(1.0)  # events keep coming while the client is away
        rest, ended = _read_sse(api.url, key, task_id, last=first[-1][0])
    assert ended
    ids = [i for i, _ in first + rest]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert ids == _stream_ids(api_stack, task_id), "an event was lost"
    types = [t for _, t in first + rest]
    assert types[0] == "task.queued"
    assert types[-1] == "task.completed"
    assert types.count("step.succeeded") == 5


def test_sse_of_a_finished_task_replays_its_events_and_ends(api_stack: LiveStack) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "acme")
    with api_server(api_stack) as api:
        task_id = _submit(api.url, key, {"goal": "one quick echo step", "plan": echo_plan(1)})
        deadline = time.monotonic() + 30
        while (
            httpx.get(f"{api.url}/api/v1/tasks/{task_id}", headers=headers(key)).json()["status"]
            != "completed"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        got, ended = _read_sse(api.url, key, task_id)
        bad = httpx.get(
            f"{api.url}/api/v1/tasks/{task_id}/events",
            headers=headers(key, **{"Last-Event-ID": "not-an-id"}),
        )
    assert ended
    assert got[-1][1] == "task.completed"
    assert bad.status_code == 422


def _ws_collect(
    ws: Any, task_ids: set[str], timeout: float = 30
) -> dict[str, list[dict[str, Any]]]:
    got: dict[str, list[dict[str, Any]]] = {t: [] for t in task_ids}
    finished: set[str] = set()
    deadline = time.monotonic() + timeout
    while finished != task_ids:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == "task.progress":
            got[message["task_id"]].append(message)
            if message["terminal"]:
                finished.add(message["task_id"])
    return got


def test_a_websocket_client_subscribed_to_two_tasks_gets_both_streams(api_stack: LiveStack) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "acme")
    with api_server(api_stack) as api, connect(f"{api.ws_url}/ws/web-1?api_key={key}") as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}
        a = _submit(api.url, key, {"goal": "first of two streams", "plan": echo_plan(3, 0.2)})
        b = _submit(api.url, key, {"goal": "second of two streams", "plan": echo_plan(2, 0.3)})
        for task_id in (a, b):
            ws.send(json.dumps({"type": "subscribe", "task_id": task_id}))
        got = _ws_collect(ws, {a, b})
    for task_id in (a, b):
        assert [m["id"] for m in got[task_id]] == _stream_ids(api_stack, task_id)
        assert got[task_id][-1]["event"]["event_type"] == "task.completed"


def test_a_websocket_authenticates_by_first_message_and_refuses_bad_keys(
    api_stack: LiveStack,
) -> None:
    key = make_key(api_stack, "acme")
    other = make_key(api_stack, "other")
    with api_server(api_stack) as api:
        task_id = _submit(api.url, other, {"goal": "belongs to another tenant"})
        with connect(f"{api.ws_url}/ws/web-2") as ws:
            ws.send(json.dumps({"type": "auth", "api_key": key}))
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
            ws.send(json.dumps({"type": "subscribe", "task_id": task_id}))
            refused = json.loads(ws.recv(timeout=5))
        with connect(f"{api.ws_url}/ws/web-3?api_key=octo_000000000000_{'x' * 40}") as bad:
            error = json.loads(bad.recv(timeout=5))
            with pytest.raises(Exception, match="1008"):
                bad.recv(timeout=5)
    assert refused["type"] == "error"
    assert refused["code"] == "NOT_FOUND"
    assert error["code"] == "UNAUTHORIZED"


class _FakeSocket:
    """The one thing not real here: a WebSocket peer that reads at a chosen pace."""

    def __init__(self, stalled: bool) -> None:
        self.stalled = stalled
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self._never = asyncio.Event()

    async def receive_json(self) -> Any:
        await self._never.wait()

    async def send_json(self, message: dict[str, Any]) -> None:
        if self.stalled:
            await self._never.wait()
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code


def test_a_slow_websocket_consumer_is_dropped_without_stalling_a_fast_one(
    api_stack: LiveStack,
) -> None:
    import redis.asyncio as aioredis

    task_id = "task-00000000-0000-4000-8000-000000000001"
    client = api_stack.redis()
    for i in range(40):
        event = Event(event_type="step.succeeded", task_id=task_id, data={"i": i})
        client.xadd(task_stream_key("default", task_id), {"event": event.model_dump_json()})
    done = Event(event_type="task.completed", task_id=task_id)
    client.xadd(task_stream_key("default", task_id), {"event": done.model_dump_json()})

    class _State:
        config = ApiSettings(ws_queue_size=8, ws_slow_after_seconds=0.5)
        aredis = aioredis.Redis.from_url(api_stack.redis_url)

    principal = Principal(key_id="k", tenant="default", scopes=frozenset())

    async def scenario() -> tuple[_FakeSocket, _FakeSocket]:
        slow, fast = _FakeSocket(stalled=True), _FakeSocket(stalled=False)
        sessions = [ClientSession(ws, _State(), principal) for ws in (slow, fast)]  # type: ignore[arg-type]
        for session in sessions:
            session.cursors[task_id] = "0-0"
            session.changed.set()
        runs = [asyncio.create_task(s.run()) for s in sessions]
        await asyncio.wait_for(runs[0], 10)  # the slow one is dropped
        for _ in range(100):
            if any(m.get("reason") == "terminal" for m in fast.sent):
                break
            await asyncio.sleep(0.05)
        runs[1].cancel()
        await asyncio.gather(runs[1], return_exceptions=True)
        await _State.aredis.aclose()
        return slow, fast

    slow, fast = asyncio.run(scenario())
    assert slow.closed_with == SLOW_CONSUMER
    progress = [m for m in fast.sent if m["type"] == "task.progress"]
    assert len(progress) == 41
    assert progress[-1]["terminal"] is True
