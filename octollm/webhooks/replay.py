"""Replay memory for receivers: has this event id been accepted within the tolerance window?

``MemoryReplayStore`` (default) is a bounded, thread-safe, in-process LRU with expiry; a
receiver running several processes should use ``RedisReplayStore`` (SET NX EX: atomic across
processes). Both answer one question atomically: "first time I see this id?"
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Protocol

import redis


class ReplayStore(Protocol):
    def first_seen(self, event_id: str, ttl_seconds: float) -> bool:
        """Record ``event_id``; True when it was not already recorded (and unexpired)."""
        ...


class MemoryReplayStore:
    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_seen(self, event_id: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        with self._lock:
            expires = self._seen.get(event_id)
            if expires is not None and expires > now:
                return False
            self._seen[event_id] = now + ttl_seconds
            self._seen.move_to_end(event_id)
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True


class RedisReplayStore:
    def __init__(self, client: redis.Redis, prefix: str = "octollm:webhooks:seen:") -> None:
        self.client = client
        self.prefix = prefix

    def first_seen(self, event_id: str, ttl_seconds: float) -> bool:
        ttl = max(1, int(ttl_seconds + 0.999))
        return bool(self.client.set(self.prefix + event_id, b"1", nx=True, ex=ttl))
