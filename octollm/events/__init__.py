"""Events out of the system: a durable per-task Redis Stream plus live pub/sub fan-out."""

from octollm.events.bus import EventBus, NullEventBus, RedisEventBus, task_stream_key

__all__ = ["EventBus", "NullEventBus", "RedisEventBus", "task_stream_key"]
