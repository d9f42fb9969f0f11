"""Events out of the system: per-task streams, a durable consumer-group stream, live pub/sub."""

from octollm.events.bus import (
    DURABLE_STREAM,
    EventBus,
    NullEventBus,
    RedisEventBus,
    task_stream_key,
)
from octollm.events.observers import add_observer, remove_observer
from octollm.events.stream import DEAD_STREAM, StreamConsumer

__all__ = [
    "DEAD_STREAM",
    "DURABLE_STREAM",
    "EventBus",
    "NullEventBus",
    "RedisEventBus",
    "StreamConsumer",
    "add_observer",
    "remove_observer",
    "task_stream_key",
]
