"""Reading a task's durable event stream (``octollm:events:tenant:{tenant}:task:{id}``) for SSE
and WebSocket.

Events are Redis Stream entries ``{"event": <Event JSON>}`` written by the orchestrator and the
workers. A reader resumes from a stream id (SSE ``Last-Event-ID``), so a client that reconnects
gets each event exactly once overall. An SSE response ends after a terminal event; when the
terminal event is missing (publishing is best effort) it ends once Postgres says the task is
terminal and the stream has nothing more, with a final ``end`` frame either way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from octollm.contracts.event import TERMINAL_EVENTS
from octollm.contracts.status import TaskStatus
from octollm.errors import InvalidInput
from octollm.events.bus import task_stream_key

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
START = "0-0"


@dataclass(frozen=True)
class StreamEvent:
    id: str
    event_type: str
    body: str  # the Event as JSON

    @property
    def terminal(self) -> bool:
        return self.event_type in TERMINAL_EVENTS

    def as_dict(self) -> dict[str, Any]:
        data = json.loads(self.body)
        return data if isinstance(data, dict) else {"data": data}


def check_stream_id(value: str | None, field: str = "header.last-event-id") -> str:
    if value is None or value == "":
        return START
    if not _STREAM_ID.match(value):
        raise InvalidInput(
            "Last-Event-ID must be an id this stream sent (e.g. 1700000000000-0)",
            details={"field": field},
        )
    return value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def decode(entry_id: Any, fields: dict[Any, Any]) -> StreamEvent:
    body = _text(fields.get(b"event", fields.get("event", b"{}")))
    try:
        event_type = str(json.loads(body).get("event_type", "unknown"))
    except (ValueError, AttributeError):
        event_type = "unknown"
    return StreamEvent(_text(entry_id), event_type, body)


async def read(
    client: aioredis.Redis,
    tenant: str,
    cursors: dict[str, str],
    block_ms: int | None,
    count: int = 100,
) -> list[tuple[str, StreamEvent]]:
    """New events after each of ``tenant``'s tasks' cursors: ``[(task_id, event)]`` in stream
    order per task."""
    if not cursors:
        return []
    keys = {task_stream_key(tenant, task_id): last for task_id, last in cursors.items()}
    reply: Any = await client.xread(keys, count=count, block=block_ms)  # type: ignore[arg-type]
    out: list[tuple[str, StreamEvent]] = []
    prefix = task_stream_key(tenant, "")
    for key, entries in reply or []:
        task_id = _text(key)[len(prefix) :]
        out.extend((task_id, decode(eid, fields)) for eid, fields in entries)
    return out


def sse_frame(event: StreamEvent) -> bytes:
    return f"id: {event.id}\nevent: {event.event_type}\ndata: {event.body}\n\n".encode()


def end_frame(task_id: str, status: str) -> bytes:
    body = json.dumps({"task_id": task_id, "status": status})
    return f"event: end\ndata: {body}\n\n".encode()


async def sse(
    client: aioredis.Redis,
    tenant: str,
    task_id: str,
    last_id: str,
    *,
    task_status: Callable[[], Awaitable[str]],
    keepalive_seconds: float,
    max_seconds: float,
) -> AsyncIterator[bytes]:
    """The SSE body for one task, from ``last_id`` on."""
    deadline = time.monotonic() + max_seconds
    yield b"retry: 1000\n\n"
    cursor = {task_id: last_id}
    while time.monotonic() < deadline:
        events = await read(client, tenant, cursor, block_ms=int(keepalive_seconds * 1000))
        for _, event in events:
            yield sse_frame(event)
            cursor[task_id] = event.id
            if event.terminal:
                yield end_frame(task_id, event.event_type.removeprefix("task."))
                return
        if events:
            continue
        status = await task_status()
        if TaskStatus(status).terminal:
            if await read(client, tenant, cursor, block_ms=None):
                continue  # the terminal event arrived meanwhile: send it first
            yield end_frame(task_id, status)
            return
        yield b": keepalive\n\n"
