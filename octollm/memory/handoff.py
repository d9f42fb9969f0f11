"""Shared-memory hand-off between arms: a payload one arm leaves for another in Redis.

Keys are ``octollm:arm:{arm}:{kind}:{id}`` where ``arm`` is the arm that wrote it and ``id``
the sha256 of the payload's canonical JSON (``cache.stable_key``): the same on every process,
unlike Python's salted ``hash()`` (OctoLLM's guide used ``hash(task.goal)``, which breaks the
coder -> judge hand-off across workers). Every key has a TTL; ``clear`` deletes an arm's keys
by SCAN. The coder leaves its code under ``kind="call"`` for the judge it calls; the message
to the judge carries only the key.
"""

from __future__ import annotations

from typing import Any

from octollm.errors import InvalidInput
from octollm.memory.cache import PREFIX, Cache, arm_key, escape_glob, stable_key


class Handoff:
    def __init__(self, cache: Cache, *, ttl_seconds: int = 3600) -> None:
        self._cache = cache
        self.ttl = ttl_seconds

    def put(self, arm: str, kind: str, payload: Any, *, ttl: int | None = None) -> str:
        """Store ``payload`` (JSON); returns its key."""
        key = arm_key(arm, kind, stable_key(payload))
        self._cache.set(key, payload, ttl=ttl or self.ttl)
        return key

    def get(self, key: str) -> Any | None:
        """The payload under ``key``; None when it expired or never was. Only hand-off keys
        (``octollm:arm:...``) are read: a message cannot point a reader at other data."""
        if not key.startswith(f"{PREFIX}:arm:"):
            raise InvalidInput(f"{key!r} is not a hand-off key")
        return self._cache.get(key)

    def clear(self, arm: str, kind: str | None = None) -> int:
        pattern = f"{PREFIX}:arm:{escape_glob(arm)}:" + (f"{escape_glob(kind)}:*" if kind else "*")
        return self._cache.delete_pattern(pattern)
