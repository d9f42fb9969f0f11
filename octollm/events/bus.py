"""Publishing events.

Each event goes to three places in one pipeline:

* the task's stream ``octollm:events:tenant:{tenant}:task:{task_id}`` (XADD, bounded, expiring
  a day after the last write; readers resume by stream id, e.g. SSE ``Last-Event-ID``);
* the durable stream ``octollm:events:stream`` (bounded), read by consumer groups with
  acknowledgement and reclaim (see :mod:`octollm.events.stream`): webhooks and subscriptions;
* the pub/sub channel ``octollm:events:tenant:{tenant}:{event_type}`` for live fan-out: one
  channel per tenant, so a live listener subscribes to one tenant's events and never hears
  another's (the event's ``tenant`` is the task row's: publishers take it from the claim).

Publishing is best effort: Postgres holds the truth, and a lost event never loses a task.
In-process observers (metrics) are told about every event, published or not.

A publisher may send other best-effort Redis writes of the same moment in the event's round
trip (``also``: a ``Piggyback``): a step's start carries its capability token's use record, its
success the arm's outcome counter. A bus that is not Redis runs them on their own.
"""

from __future__ import annotations

from typing import Any, Protocol

import redis
import structlog

from octollm.contracts.event import Event
from octollm.events.observers import notify

log = structlog.get_logger(__name__)

STREAM_MAXLEN = 10_000
STREAM_TTL_SECONDS = 86_400
DURABLE_STREAM = "octollm:events:stream"
DURABLE_MAXLEN = 100_000


def task_stream_key(tenant: str, task_id: str) -> str:
    """The task's durable stream, under its tenant: a reader names the tenant it was
    authorised as (the task row's), so no key of another tenant can be formed by mistake."""
    return f"octollm:events:tenant:{tenant}:task:{task_id}"


def channel(event_type: str, tenant: str) -> str:
    return f"octollm:events:tenant:{tenant}:{event_type}"


class Piggyback(Protocol):
    """Best-effort Redis writes sent along with an event (same Redis as the bus)."""

    def queue(self, pipe: Any) -> None:
        """Add the writes to ``pipe`` (a non-transactional redis pipeline)."""

    def run(self) -> None:
        """Send the writes on their own (the bus is not Redis)."""


class EventBus(Protocol):
    def publish(self, event: Event, *, also: Piggyback | None = None) -> str | None: ...


class NullEventBus:
    def publish(self, event: Event, *, also: Piggyback | None = None) -> str | None:
        notify(event)
        if also is not None:
            also.run()
        return None


class RedisEventBus:
    def __init__(
        self,
        client: redis.Redis,
        *,
        durable_maxlen: int = DURABLE_MAXLEN,
        durable_stream: str = DURABLE_STREAM,
    ) -> None:
        self.client = client
        self.durable_maxlen = durable_maxlen
        self.durable_stream = durable_stream

    @classmethod
    def from_url(cls, url: str, *, durable_maxlen: int = DURABLE_MAXLEN) -> RedisEventBus:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, durable_maxlen=durable_maxlen)

    def publish(self, event: Event, *, also: Piggyback | None = None) -> str | None:
        notify(event)
        body = event.model_dump_json()
        try:
            pipe = self.client.pipeline(transaction=False)
            if also is not None:
                also.queue(pipe)
            extra = len(pipe)
            if event.task_id:
                key = task_stream_key(event.tenant, event.task_id)
                pipe.xadd(key, {"event": body}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.expire(key, STREAM_TTL_SECONDS)
            pipe.xadd(
                self.durable_stream, {"event": body}, maxlen=self.durable_maxlen, approximate=True
            )
            pipe.publish(channel(event.event_type, event.tenant), body)
            replies = pipe.execute()
        except redis.RedisError as exc:
            log.warning("event_publish_failed", event_type=event.event_type, error=str(exc))
            return None
        if event.task_id:
            stream_id = replies[extra]
            return stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)
        return None
