"""Shared-memory hand-off between arms: a payload one arm leaves for another in Redis.

Keys are ``octollm:tenant:{tenant}:handoff:{arm}:{kind}:{sha256}`` where ``arm`` is the arm
that wrote it and the last part the sha256 of the payload's canonical JSON
(``cache.stable_key``): the same on every process, unlike Python's salted ``hash()``
(OctoLLM's guide used ``hash(task.goal)``, which breaks the coder -> judge hand-off across
workers). Every key has a TTL; ``clear`` deletes an arm's keys by SCAN. The coder leaves its
code under ``kind="call"`` for the judge it calls; the message to the judge carries only the key.

**Tenant-scoped by construction**: a ``Handoff`` is built for one tenant (the task row's) over
a ``TenantCache`` and writes, reads and clears only that tenant's keys. A key from a message is
read only when it is a hand-off key of the reader's tenant, so a message cannot point a reader
at another tenant's hand-off (nor at anything that is not a hand-off).
"""

from __future__ import annotations

import re
from typing import Any

from octollm.errors import InvalidInput
from octollm.memory.cache import Cache, TenantCache, stable_key

AREA = "handoff"
_KIND = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")


def _kind(kind: str) -> str:
    if not _KIND.match(kind):
        raise InvalidInput(f"bad hand-off kind {kind!r}: lowercase letters, digits, _ or -")
    return kind


class Handoff:
    def __init__(self, cache: Cache, *, tenant: str, ttl_seconds: int = 3600) -> None:
        self._cache: TenantCache = cache.for_tenant(tenant)
        self.tenant = tenant
        self.ttl = ttl_seconds

    def put(self, arm: str, kind: str, payload: Any, *, ttl: int | None = None) -> str:
        """Store ``payload`` (JSON); returns its key."""
        key_id = f"{_kind(kind)}:{stable_key(payload)}"
        return self._cache.set(AREA, arm, key_id, payload, ttl=ttl or self.ttl)

    def get(self, key: str) -> Any | None:
        """The payload under ``key``; None when it expired or never was. Only this tenant's
        hand-off keys are read."""
        if not key.startswith(f"{self._cache.prefix}{AREA}:"):
            raise InvalidInput(f"{key[:120]!r} is not a hand-off key of this tenant")
        return self._cache.get_key(key)

    def clear(self, arm: str, kind: str | None = None) -> int:
        """Delete this tenant's hand-offs written by ``arm`` (of one ``kind``)."""
        return self._cache.clear(AREA, arm, f"{_kind(kind)}:" if kind else "")
