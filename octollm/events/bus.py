"""Publishing events.

Each event goes to the task's durable stream ``octollm:events:task:{task_id}`` (XADD, bounded,
expiring a day after the last write; readers resume by stream id, e.g. SSE ``Last-Event-ID``)
and to the pub/sub channel ``octollm:events:{event_type}`` for live fan-out. Publishing is best
effort: Postgres holds the truth, and a lost event never loses a task.
"""

from __future__ import annotations

from typing import Protocol

import redis
import structlog

from octollm.contracts.event import Event

log = structlog.get_logger(__name__)

STREAM_MAXLEN = 10_000
STREAM_TTL_SECONDS = 86_400


def task_stream_key(task_id: str) -> str:
    return f"octollm:events:task:{task_id}"


def channel(event_type: str) -> str:
    return f"octollm:events:{event_type}"


class EventBus(Protocol):
    def publish(self, event: Event) -> str | None: ...


class NullEventBus:
    def publish(self, event: Event) -> str | None:
        return None


class RedisEventBus:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> RedisEventBus:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))

    def publish(self, event: Event) -> str | None:
        body = event.model_dump_json()
        try:
            pipe = self.client.pipeline(transaction=False)
            if event.task_id:
                key = task_stream_key(event.task_id)
                pipe.xadd(key, {"event": body}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.expire(key, STREAM_TTL_SECONDS)
            pipe.publish(channel(event.event_type), body)
            replies = pipe.execute()
        except redis.RedisError as exc:
            log.warning("event_publish_failed", event_type=event.event_type, error=str(exc))
            return None
        if event.task_id:
            stream_id = replies[0]
            return stream_id.decode() if isinstance(stream_id, bytes) else str(stream_id)
        return None
