"""Durable consumption of the event stream: consumer groups, acknowledgement, reclaim, dead letters.

A consumer reads new entries with XREADGROUP and acknowledges each one only after its handler
returned. An entry whose consumer died (or whose handler raised) stays pending; after
``reclaim_idle`` any consumer of the group takes it over with XAUTOCLAIM and runs it again, so
handlers must be idempotent (ours are: deliveries and reactions are keyed by event id). An
entry delivered ``max_deliveries`` times without success moves to the dead-letter stream
``octollm:events:dead`` with its error, and can be replayed from there.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import structlog
from pydantic import ValidationError

from octollm.contracts.event import Event, EventType
from octollm.events.bus import DURABLE_STREAM
from octollm.events.observers import notify

log = structlog.get_logger(__name__)

DEAD_STREAM = "octollm:events:dead"
Handler = Callable[[Event], None]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class StreamConsumer:
    client: redis.Redis
    group: str
    handler: Handler
    consumer: str = ""
    stream: str = DURABLE_STREAM
    dead_stream: str = DEAD_STREAM
    reclaim_idle_seconds: float = 60.0
    max_deliveries: int = 5
    dead_maxlen: int = 10_000
    batch: int = 16

    def __post_init__(self) -> None:
        self.consumer = self.consumer or default_consumer_name()

    def ensure_group(self) -> None:
        """Create the group at the start of the stream (idempotent)."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _ensure_group_quietly(self) -> None:
        try:
            self.ensure_group()
        except redis.RedisError as exc:
            log.warning("event_group_unavailable", group=self.group, error=str(exc)[:300])

    def poll(self, block_ms: int = 1000) -> int:
        """Handle one batch: reclaimed entries first, else new ones. Returns how many were read."""
        entries = self._reclaim()
        if not entries:
            reply: Any = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=self.batch, block=block_ms
            )
            entries = [entry for _, stream_entries in (reply or []) for entry in stream_entries]
        for stream_id, fields in entries:
            self._handle(_text(stream_id), fields)
        return len(entries)

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        """Consume until ``stop`` is set; Redis outages are logged and waited out."""
        self._ensure_group_quietly()
        log.info("event_consumer_started", group=self.group, consumer=self.consumer)
        while not stop.is_set():
            try:
                self.poll(block_ms)
            except redis.RedisError as exc:
                log.warning("event_consumer_redis_error", error=str(exc)[:300])
                stop.wait(1.0)
                if "NOGROUP" in str(exc):  # Redis lost the group (restart, flush): recreate it
                    self._ensure_group_quietly()
            except Exception:
                log.exception("event_consumer_failed")
                stop.wait(1.0)
        log.info("event_consumer_stopped", group=self.group, consumer=self.consumer)

    def retire(self) -> None:
        """Leave the group when nothing is pending here (keeps XINFO CONSUMERS short)."""
        try:
            mine = self.client.xpending_range(
                self.stream, self.group, min="-", max="+", count=1, consumername=self.consumer
            )
            if not mine:
                self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)
        except redis.RedisError as exc:
            log.debug("event_consumer_retire_failed", error=str(exc)[:200])

    def _reclaim(self) -> list[tuple[Any, dict[Any, Any]]]:
        idle_ms = int(self.reclaim_idle_seconds * 1000)
        reply = self.client.xautoclaim(
            self.stream, self.group, self.consumer, idle_ms, start_id="0-0", count=self.batch
        )
        claimed = [(sid, fields) for sid, fields in reply[1] if fields is not None]
        if claimed:
            log.info("events_reclaimed", count=len(claimed), consumer=self.consumer)
        return claimed

    def _handle(self, stream_id: str, fields: dict[Any, Any]) -> None:
        raw = fields.get(b"event", fields.get("event"))
        try:
            event = Event.model_validate_json(raw or b"")
        except ValidationError as exc:
            self._dead_letter(
                stream_id, fields, f"undecodable event: {exc.error_count()} errors", 1
            )
            return
        try:
            self.handler(event)
        except Exception as exc:  # noqa: BLE001 - a failing handler leaves the entry pending
            deliveries = self._times_delivered(stream_id)
            if deliveries >= self.max_deliveries:
                self._dead_letter(
                    stream_id, fields, f"{type(exc).__name__}: {exc}"[:500], deliveries
                )
            else:
                log.warning(
                    "event_handler_failed",
                    event_id=event.event_id,
                    event_type=event.event_type,
                    deliveries=deliveries,
                    error=str(exc)[:300],
                )
            return
        self.client.xack(self.stream, self.group, stream_id)

    def _times_delivered(self, stream_id: str) -> int:
        rows = self.client.xpending_range(
            self.stream, self.group, min=stream_id, max=stream_id, count=1
        )
        return int(rows[0]["times_delivered"]) if rows else 1

    def _dead_letter(
        self, stream_id: str, fields: dict[Any, Any], error: str, deliveries: int
    ) -> None:
        body = fields.get(b"event", fields.get("event")) or b""
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            self.dead_stream,
            {
                "event": body,
                "error": error,
                "group": self.group,
                "stream_id": stream_id,
                "deliveries": deliveries,
            },
            maxlen=self.dead_maxlen,
            approximate=True,
        )
        pipe.xack(self.stream, self.group, stream_id)
        pipe.execute()
        log.warning(
            "event_dead_lettered",
            stream_id=stream_id,
            group=self.group,
            deliveries=deliveries,
            error=error[:200],
        )
        notify(
            Event(
                event_type=EventType.EVENT_DEAD_LETTERED.value,
                source="events",
                data={"group": self.group, "stream_id": stream_id},
            )
        )


def dead_letters(
    client: redis.Redis, count: int = 100, *, dead_stream: str = DEAD_STREAM
) -> list[dict[str, str]]:
    """The newest dead-lettered events, newest first."""
    rows: Any = client.xrevrange(dead_stream, count=count)
    return [
        {"id": _text(sid), **{_text(k): _text(v) for k, v in fields.items()}}
        for sid, fields in rows
    ]


def replay_dead_letter(
    client: redis.Redis,
    dead_id: str,
    *,
    stream: str = DURABLE_STREAM,
    dead_stream: str = DEAD_STREAM,
) -> str | None:
    """Put a dead-lettered event back on the durable stream; returns its new stream id."""
    rows: Any = client.xrange(dead_stream, min=dead_id, max=dead_id, count=1)
    if not rows:
        return None
    fields = rows[0][1]
    pipe = client.pipeline(transaction=True)
    pipe.xadd(stream, {"event": fields[b"event"]})
    pipe.xdel(dead_stream, dead_id)
    new_id = pipe.execute()[0]
    return _text(new_id)
