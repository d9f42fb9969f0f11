"""Token-bucket rate limits in Redis, shared by every API process.

One Lua script refills and charges several buckets at once (say the tenant's and the key's),
atomically: a request is admitted only when every bucket holds enough tokens, and then all of
them pay. The clock is Redis's own (``TIME``), so API processes on different machines agree.
Each bucket is a hash ``{tokens, ts}`` that expires once it would be full again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from octollm.errors import ServiceUnavailable

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local tokens = {}
local allowed = 1
local retry_ms = 0
for i = 1, #KEYS do
  local cap = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tok = tonumber(state[1])
  local ts = tonumber(state[2])
  if tok == nil or ts == nil then
    tok = cap
    ts = now
  end
  tok = math.min(cap, tok + math.max(0, now - ts) * rate)
  tokens[i] = tok
  if tok < cost then
    allowed = 0
    local wait = math.ceil((cost - tok) / rate)
    if wait > retry_ms then retry_ms = wait end
  end
end
local out = {allowed, retry_ms}
for i = 1, #KEYS do
  local cap = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  local tok = tokens[i]
  if allowed == 1 then tok = tok - cost end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tok), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - tok) / rate) + 1000)
  table.insert(out, tostring(tok))
  table.insert(out, math.ceil((cap - tok) / rate))
end
return out
"""


@dataclass(frozen=True)
class Bucket:
    """A bucket of ``capacity`` tokens (the burst) refilled at ``rate`` tokens per second."""

    key: str
    capacity: int
    rate: float

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.rate <= 0:
            raise ValueError("a bucket needs capacity >= 1 and rate > 0")


@dataclass(frozen=True)
class Decision:
    """The outcome for the tightest bucket, as the ``X-RateLimit-*`` headers report it."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_seconds)
        return out


class RateLimiter:
    def __init__(self, client: redis.Redis, *, namespace: str = "octollm:ratelimit") -> None:
        self.client = client
        self.namespace = namespace
        self._script = client.register_script(_SCRIPT)

    def key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def hit(self, buckets: Sequence[Bucket], cost: int = 1) -> Decision:
        """Charge ``cost`` tokens to every bucket, or to none. ``cost`` is capped at the
        smallest capacity, so a request never waits for more than a full bucket."""
        if not buckets:
            raise ValueError("hit() needs at least one bucket")
        cost = max(1, min(cost, min(b.capacity for b in buckets)))
        args: list[str | int | float] = [cost]
        for bucket in buckets:
            args += [bucket.capacity, repr(bucket.rate / 1000.0)]
        try:
            reply = self._script(keys=[b.key for b in buckets], args=args)
        except redis.RedisError as exc:
            raise ServiceUnavailable(
                f"rate limiter unavailable: {exc}",
                details={"service": "redis", "error": type(exc).__name__},
            ) from exc
        allowed, retry_ms = int(reply[0]), int(reply[1])
        tightest = min(
            range(len(buckets)), key=lambda i: float(reply[2 + 2 * i]) / buckets[i].capacity
        )
        remaining = float(reply[2 + 2 * tightest])
        return Decision(
            allowed=bool(allowed),
            limit=buckets[tightest].capacity,
            remaining=max(0, math.floor(remaining)),
            reset_seconds=math.ceil(int(reply[3 + 2 * tightest]) / 1000),
            retry_after_seconds=max(1, math.ceil(retry_ms / 1000)),
        )
