"""Redis cache: namespaced keys, JSON values, TTLs, and pattern delete by SCAN.

Keys read ``octollm:{area}:{kind}:{id}``; arms' shared memory lives under
``octollm:arm:{arm}:{kind}:{id}`` (e.g. ``octollm:arm:coder:result:<stable_key(goal)>``).
``area``, ``arm`` and ``kind`` are short lowercase names; ``id`` is free text but glob
characters are escaped whenever a key becomes part of a SCAN pattern, so deleting
``octollm:arm:coder:*`` can never match outside that namespace.

Values are JSON (never pickle). Every write has a TTL (default 300 s, OctoLLM's arm
shared-memory default). ``delete_pattern`` walks the keyspace with SCAN and removes in batches
with UNLINK: KEYS would block the server for the whole walk.

**Tenant data** goes through a ``TenantCache`` (``Cache.for_tenant``): it builds every key
itself under ``octollm:tenant:{tenant}:...`` from (area, kind, id) and takes no raw keys, so one
tenant's entries can neither be read nor cleared through another tenant's view. The plain
``Cache`` remains for the system's own keys (no tenant data).

``stable_key(obj)`` is the sha256 of canonical JSON (sorted keys, no spaces): the same on every
process and every run, unlike Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from octollm.errors import InvalidInput, StorageUnavailable

PREFIX = "octollm"
DEFAULT_TTL_SECONDS = 300
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
_GLOB = re.compile(r"([*?\[\]\\])")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # security.apikeys.TENANT_PATTERN


def stable_key(obj: Any) -> str:
    """sha256 hex of ``obj`` as canonical JSON; raises ``TypeError`` for non-JSON values."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise InvalidInput(f"bad cache {what} {value!r}: lowercase letters, digits, _ or -")
    return value


def _id(value: str) -> str:
    if not value or len(value) > 512:
        raise InvalidInput("cache id must be 1..512 characters")
    return value


def escape_glob(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped for SCAN MATCH."""
    return _GLOB.sub(r"\\\1", text)


def cache_key(area: str, kind: str, id: str) -> str:
    """``octollm:{area}:{kind}:{id}``."""
    return f"{PREFIX}:{_name(area, 'area')}:{_name(kind, 'kind')}:{_id(id)}"


def arm_key(arm: str, kind: str, id: str) -> str:
    """``octollm:arm:{arm}:{kind}:{id}``: an arm's shared memory."""
    return f"{PREFIX}:arm:{_name(arm, 'arm')}:{_name(kind, 'kind')}:{_id(id)}"


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise InvalidInput(
            "a tenant-scoped store needs a valid tenant", details={"field": "tenant"}
        )
    return tenant


def tenant_prefix(tenant: str) -> str:
    """``octollm:tenant:{tenant}:``: everything a tenant's view reads and writes."""
    return f"{PREFIX}:tenant:{check_tenant(tenant)}:"


class Cache:
    """A JSON cache over one Redis database. Thread-safe (redis-py pools connections)."""

    def __init__(self, client: redis.Redis, *, default_ttl: int = DEFAULT_TTL_SECONDS) -> None:
        if default_ttl < 1:
            raise InvalidInput("default_ttl must be at least one second")
        self._redis = client
        self.default_ttl = default_ttl

    @classmethod
    def from_url(cls, url: str, *, default_ttl: int = DEFAULT_TTL_SECONDS) -> Cache:
        client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        return cls(client, default_ttl=default_ttl)

    def set(self, key: str, value: Any, *, ttl: int | None = None) -> None:
        seconds = self.default_ttl if ttl is None else ttl
        if seconds < 1:
            raise InvalidInput("ttl must be at least one second")
        data = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        with _wrapped():
            self._redis.set(key, data, ex=seconds)

    def get(self, key: str) -> Any | None:
        """The stored JSON value, or None when absent or expired."""
        with _wrapped():
            raw = self._redis.get(key)
        if raw is None:
            return None
        return json.loads(raw)

    def ttl(self, key: str) -> int | None:
        """Seconds left, or None when the key is absent (or has no expiry)."""
        with _wrapped():
            left = int(self._redis.ttl(key))
        return left if left >= 0 else None

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        with _wrapped():
            return int(self._redis.unlink(*keys))

    def delete_pattern(self, pattern: str, *, batch: int = 500) -> int:
        """Delete every key matching a SCAN ``pattern`` (must start with ``octollm:``)."""
        if not pattern.startswith(f"{PREFIX}:") or pattern.strip("*:") == PREFIX:
            raise InvalidInput(
                "pattern must be inside an octollm namespace, e.g. octollm:arm:coder:*"
            )
        deleted = 0
        pending: list[bytes | str] = []
        with _wrapped():
            for key in self._redis.scan_iter(match=pattern, count=batch):
                pending.append(key)
                if len(pending) >= batch:
                    deleted += int(self._redis.unlink(*pending))
                    pending.clear()
            if pending:
                deleted += int(self._redis.unlink(*pending))
        return deleted

    def clear_namespace(self, area: str, kind: str | None = None) -> int:
        """Delete ``octollm:{area}:*`` or ``octollm:{area}:{kind}:*``."""
        prefix = f"{PREFIX}:{_name(area, 'area')}:"
        if kind is not None:
            prefix += f"{_name(kind, 'kind')}:"
        return self.delete_pattern(escape_glob(prefix) + "*")

    def clear_arm(self, arm: str, kind: str | None = None) -> int:
        """Delete an arm's shared memory: ``octollm:arm:{arm}:*`` (or one kind of it)."""
        prefix = f"{PREFIX}:arm:{_name(arm, 'arm')}:"
        if kind is not None:
            prefix += f"{_name(kind, 'kind')}:"
        return self.delete_pattern(escape_glob(prefix) + "*")

    def for_tenant(self, tenant: str) -> TenantCache:
        return TenantCache(self, tenant)

    def close(self) -> None:
        self._redis.close()


class TenantCache:
    """One tenant's cache: keys ``octollm:tenant:{tenant}:{area}:{kind}:{id}``, built here."""

    def __init__(self, cache: Cache, tenant: str) -> None:
        self.prefix = tenant_prefix(tenant)
        self.tenant = tenant
        self._cache = cache

    def key(self, area: str, kind: str, id: str) -> str:
        return f"{self.prefix}{_name(area, 'area')}:{_name(kind, 'kind')}:{_id(id)}"

    def owns(self, key: str) -> bool:
        """Whether ``key`` lies in this tenant's namespace."""
        return key.startswith(self.prefix)

    def set(self, area: str, kind: str, id: str, value: Any, *, ttl: int | None = None) -> str:
        key = self.key(area, kind, id)
        self._cache.set(key, value, ttl=ttl)
        return key

    def get(self, area: str, kind: str, id: str) -> Any | None:
        return self._cache.get(self.key(area, kind, id))

    def get_key(self, key: str) -> Any | None:
        """The value under a key this view built (e.g. one a message carried); a key outside
        the tenant's namespace is refused, not read."""
        if not self.owns(key):
            raise InvalidInput("the key is not in this tenant's namespace")
        return self._cache.get(key)

    def ttl(self, area: str, kind: str, id: str) -> int | None:
        return self._cache.ttl(self.key(area, kind, id))

    def delete(self, area: str, kind: str, id: str) -> int:
        return self._cache.delete(self.key(area, kind, id))

    def clear(self, area: str, kind: str | None = None, id_prefix: str = "") -> int:
        """Delete this tenant's ``{area}:*`` (or ``{area}:{kind}:{id_prefix}*``); never
        another tenant's."""
        prefix = f"{self.prefix}{_name(area, 'area')}:"
        if kind is not None:
            prefix += f"{_name(kind, 'kind')}:{id_prefix}"
        return self._cache.delete_pattern(escape_glob(prefix) + "*")


class _wrapped:
    """Redis unreachable -> ``StorageUnavailable`` (retryable)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            raise StorageUnavailable(f"Redis unavailable: {exc!s}"[:500]) from exc
