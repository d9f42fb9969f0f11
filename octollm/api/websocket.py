"""One WebSocket client: subscriptions to task streams, pushed as ``task.progress`` messages.

Protocol (JSON text frames)::

    -> {"type": "auth", "api_key": "..."}          only when no key came with the handshake
    -> {"type": "subscribe", "task_id": "...", "last_event_id": "..."?}
    <- {"type": "subscribed", "task_id": "..."}
    <- {"type": "task.progress", "task_id": "...", "id": "<stream id>", "event": {...},
        "terminal": false}
    <- {"type": "unsubscribed", "task_id": "...", "reason": "terminal" | "requested"}
    -> {"type": "unsubscribe", "task_id": "..."}
    -> {"type": "ping"}                             <- {"type": "pong"}
    <- {"type": "error", "code": "...", "message": "...", "task_id": "..."?}

Every outgoing message goes through one bounded queue drained by one writer. Each connection
has its own reader, which reads no more than the queue has room for and waits a short grace
period for room when a burst fills it; a client that does not drain its queue in that time is
too slow and is disconnected (close code 1013, "try again later"; it can resubscribe with
``last_event_id``). Nothing is shared between connections but the Redis pool, so a slow client
holds up no one else.

**Origin.** A browser sends the page's ``Origin`` with every WebSocket handshake and, unlike a
fetch, the socket is not subject to CORS: a page on another site could open a socket with the
visitor's credentials (cross-site WebSocket hijacking). ``origin_refusal`` admits a handshake
without ``Origin`` (a program, not a browser), the API's own origin (``Origin`` naming the
``Host`` the request came to) and the origins of ``ApiSettings.ws_allowed_origins``; any other
is closed with 1008 before authentication or any message is read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from octollm.api import eventstream, metrics, queries
from octollm.api.state import ApiState
from octollm.contracts.status import TaskStatus
from octollm.errors import OctoError
from octollm.events.bus import task_stream_key
from octollm.security.apikeys import Principal

log = structlog.get_logger(__name__)

SLOW_CONSUMER = 1013
POLICY_VIOLATION = 1008
POLL_MS = 500


def _origin_key(scheme: str, host: str, port: int | None) -> tuple[str, int]:
    return host.lower().rstrip("."), port or (443 if scheme in ("https", "wss") else 80)


def origin_refusal(origin: str | None, host: str | None, allowed: Sequence[str]) -> str | None:
    """Why a handshake with this ``Origin`` is refused, or None when it may proceed."""
    if origin is None:
        return None  # not a browser: the API key is the whole story
    if "*" in allowed:
        return None
    normalized = origin.strip().rstrip("/").lower()
    if normalized in {a.strip().rstrip("/").lower() for a in allowed}:
        return None
    try:
        parts = urlsplit(normalized)
        theirs = _origin_key(parts.scheme, parts.hostname or "", parts.port)
        ours = urlsplit(f"{parts.scheme}://{host or ''}")
        same = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and theirs == (_origin_key(parts.scheme, ours.hostname or "", ours.port))
        )
    except ValueError:  # an unparsable port or bracket
        same = False
    return None if same else f"origin {origin[:200]!r} is not allowed"


class SlowConsumer(Exception):
    """The client's outgoing queue is full."""


class ClientSession:
    def __init__(self, ws: WebSocket, state: ApiState, principal: Principal) -> None:
        self.ws = ws
        self.state = state
        self.principal = principal
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(state.config.ws_queue_size)
        self.cursors: dict[str, str] = {}
        self.changed = asyncio.Event()

    def push(self, message: dict[str, Any]) -> None:
        """Queue a reply; a client whose queue is full is too slow."""
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            raise SlowConsumer from None

    async def deliver(self, message: dict[str, Any]) -> None:
        """Queue an event, waiting at most the grace period for the client to make room: a
        burst is absorbed, a client that stopped reading is dropped."""
        try:
            await asyncio.wait_for(
                self.outbox.put(message), self.state.config.ws_slow_after_seconds
            )
        except TimeoutError:
            raise SlowConsumer from None

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._read()),
            asyncio.create_task(self._write()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if isinstance(exc, SlowConsumer):
                metrics.SLOW_CONSUMERS.inc()
                log.warning("ws_slow_consumer_dropped", queued=self.outbox.qsize())
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(SLOW_CONSUMER, "too slow"), 2.0)
            elif exc is not None and not isinstance(exc, WebSocketDisconnect):
                raise exc

    async def _write(self) -> None:
        while True:
            message = await self.outbox.get()
            await self.ws.send_json(message)

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.ws.receive_json()
            except (ValueError, KeyError):
                self.push(_error("BAD_MESSAGE", "messages must be JSON objects"))
                continue
            await self.handle(message)

    async def handle(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            self.push({"type": "pong"})
        elif kind == "subscribe":
            await self.subscribe(message)
        elif kind == "unsubscribe":
            task_id = str(message.get("task_id", ""))
            if self.cursors.pop(task_id, None) is not None:
                self.push({"type": "unsubscribed", "task_id": task_id, "reason": "requested"})
        else:
            self.push(_error("BAD_MESSAGE", "type must be subscribe, unsubscribe or ping"))

    async def subscribe(self, message: dict[str, Any]) -> None:
        task_id = str(message.get("task_id", ""))[:64]
        try:
            last = eventstream.check_stream_id(message.get("last_event_id"), "last_event_id")
            status = await run_in_threadpool(
                queries.require_task, self.state.db, self.principal.tenant, task_id
            )
        except OctoError as exc:
            self.push(_error(exc.code, exc.message, task_id))
            return
        if (
            task_id not in self.cursors
            and len(self.cursors) >= self.state.config.ws_max_subscriptions
        ):
            self.push(_error("TOO_MANY_SUBSCRIPTIONS", "unsubscribe from a task first", task_id))
            return
        self.push({"type": "subscribed", "task_id": task_id})
        if TaskStatus(status).terminal and not await self.state.aredis.exists(
            task_stream_key(self.principal.tenant, task_id)
        ):
            self.push(_progress(task_id, None, {"event_type": f"task.{status}"}, terminal=True))
            self.push({"type": "unsubscribed", "task_id": task_id, "reason": "terminal"})
            return
        self.cursors[task_id] = last
        self.changed.set()

    async def _read(self) -> None:
        while True:
            if not self.cursors:
                self.changed.clear()
                await self.changed.wait()
                continue
            room = max(1, self.outbox.maxsize - self.outbox.qsize())
            events = await eventstream.read(
                self.state.aredis, self.principal.tenant, dict(self.cursors), POLL_MS, count=room
            )
            for task_id, event in events:
                if task_id not in self.cursors:
                    continue  # unsubscribed meanwhile
                self.cursors[task_id] = event.id
                progress = _progress(task_id, event.id, event.as_dict(), terminal=event.terminal)
                await self.deliver(progress)
                if event.terminal:
                    del self.cursors[task_id]
                    await self.deliver(
                        {"type": "unsubscribed", "task_id": task_id, "reason": "terminal"}
                    )


def _progress(
    task_id: str, stream_id: str | None, event: dict[str, Any], *, terminal: bool
) -> dict[str, Any]:
    return {
        "type": "task.progress",
        "task_id": task_id,
        "id": stream_id,
        "event": event,
        "terminal": terminal,
    }


def _error(code: str, message: str, task_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if task_id:
        out["task_id"] = task_id
    return out
