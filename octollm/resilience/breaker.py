"""A circuit breaker whose state every worker shares through Redis.

One breaker per remote dependency (for the LLM: per endpoint and model), stored as a hash
``octollm:breaker:{name}`` (``state``, ``open_until``, ``probe_until``, server milliseconds) and
a sorted set ``octollm:breaker:{name}:failures`` of recent failures. Every transition is one Lua
script, so concurrent workers on any number of machines cannot interleave inside one, and
the clock is Redis's (``TIME``), so the workers' clocks do not matter::

    closed     --N failures within the window-->     open
    open       --reset timeout passed, one caller--> half_open  (that caller is the probe)
    half_open  --the probe succeeds-->               closed
    half_open  --the probe fails-->                  open       (for another reset timeout)
    half_open  --the probe is silent for probe_seconds--> another caller may probe

While open (and while a probe is out) calls fail fast with ``LLMUnavailable`` (or the
breaker's ``error`` class; retryable, ``details["reason"] == "CIRCUIT_OPEN"``) carrying
``retry_after``: the seconds until a probe
may go. What counts as a failure: ``ServiceUnavailable`` (5xx, timeouts, connection errors).
A 4xx, a 429 or a reply the client cannot use shows a server that answers: a success here.

A closed breaker costs one round trip per call (the admission); a success is recorded only
when it matters (by a probe). Redis unreachable: the breaker **fails open** (calls go through,
a warning is logged): it protects the provider and our pools, and must not become an outage
of its own.

Metrics sit above this layer: ``on_state_change(fn)`` registers ``fn(name, old, new)``, called
in the process that made a transition (each transition is made by exactly one process).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import redis
import structlog

from octollm.errors import LLMUnavailable, OctoError, ServiceUnavailable
from octollm.resilience.retry import CIRCUIT_OPEN

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]
Listener = Callable[[str, str, str], None]
log = structlog.get_logger(__name__)

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1] state hash. ARGV[1] probe ms, ARGV[2] key ttl ms.
# Returns {admitted 0|1, state after, wait ms, state before}.
_ACQUIRE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {1, 'closed', 0, 'closed'} end
if state == 'open' then
  local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
  if now < open_until then return {0, 'open', open_until - now, 'open'} end
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'probe_until', now + tonumber(ARGV[1]))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 'half_open', 0, 'open'}
end
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now < probe_until then return {0, 'half_open', probe_until - now, 'half_open'} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]))
return {1, 'half_open', 0, 'half_open'}
"""
)

# KEYS[1] state hash, KEYS[2] failures zset. ARGV: threshold, window ms, reset ms, member,
# key ttl ms. Returns {state after, state before}.
_FAILURE = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then return {'open', 'open'} end
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[3]))
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'open', 'half_open'}
end
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[3]))
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('DEL', KEYS[2])
  return {'open', 'closed'}
end
return {'closed', 'closed'}
"""
)

# KEYS[1] state hash, KEYS[2] failures zset. Closes a half-open breaker.
_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'closed', 'half_open'}
end
return {state, state}
"""

# KEYS[1] state hash: a probe that neither failed nor succeeded lets the next caller probe.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == 'half_open' then
  redis.call('HSET', KEYS[1], 'probe_until', 0)
end
return 1
"""

_listeners: list[Listener] = []
_listeners_lock = threading.Lock()


def on_state_change(listener: Listener) -> Listener:
    """Call ``listener(name, old_state, new_state)`` on every transition this process makes
    (e.g. to set a metrics gauge). Returns the listener, so it can decorate a function."""
    with _listeners_lock:
        if listener not in _listeners:
            _listeners.append(listener)
    return listener


def remove_listener(listener: Listener) -> None:
    with _listeners_lock:
        if listener in _listeners:
            _listeners.remove(listener)


def _notify(name: str, old: str, new: str) -> None:
    log.warning("circuit_breaker_transition", breaker=name, old=old, new=new)
    with _listeners_lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(name, old, new)
        except Exception:  # a metrics hook must not break a call (logged)
            log.exception("circuit_breaker_listener_failed", breaker=name)


def is_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the dependency is down (as opposed to: it answered, unhappily)."""
    return isinstance(exc, ServiceUnavailable) and exc.details.get("reason") != CIRCUIT_OPEN


@dataclass(frozen=True)
class Admission:
    admitted: bool
    state: State
    wait_seconds: float


class CircuitBreaker:
    """A breaker named ``name`` (e.g. ``llm:<sha256 of endpoint+model>``) over one Redis."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        failure_threshold: int = 5,
        window_seconds: float = 30.0,
        reset_seconds: float = 30.0,
        probe_seconds: float = 130.0,
        describe: str = "",
        error: type[ServiceUnavailable] = LLMUnavailable,
    ) -> None:
        self.name = name
        self.error = error
        self.describe = describe or name
        self.key = f"octollm:breaker:{name}"
        self.failures_key = f"{self.key}:failures"
        self.failure_threshold = failure_threshold
        self.window_ms = int(window_seconds * 1000)
        self.reset_ms = int(reset_seconds * 1000)
        self.probe_ms = int(probe_seconds * 1000)
        # The hash outlives any state it can be in, then disappears (closed again).
        self.ttl_ms = max(self.reset_ms, self.probe_ms) * 4 + 60_000
        self._redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._failure = client.register_script(_FAILURE)
        self._success = client.register_script(_SUCCESS)
        self._release = client.register_script(_RELEASE)

    # -- the guarded call ------------------------------------------------------------------

    def call(self, fn: Callable[[], T]) -> T:
        admission = self.admit()
        if not admission.admitted:
            raise self.error(
                f"{self.describe} is failing: its circuit breaker is {admission.state}; "
                f"calls fail fast for {admission.wait_seconds:.1f} s",
                retry_after=round(admission.wait_seconds, 3),
                details={"reason": CIRCUIT_OPEN, "breaker": self.name, "state": admission.state},
            )
        try:
            result = fn()
        except Exception as exc:
            if is_failure(exc):
                self.record_failure()
            elif admission.state == "half_open" and isinstance(exc, OctoError):
                self.record_success()  # the server answered (a 4xx, a 429...): it is up
            elif admission.state == "half_open":
                self.release()  # our own failure says nothing about the server
            raise
        if admission.state == "half_open":
            self.record_success()
        return result

    # -- transitions -------------------------------------------------------------------------

    def admit(self) -> Admission:
        reply = self._run(self._acquire, [self.key], [self.probe_ms, self.ttl_ms])
        if reply is None:
            return Admission(True, "closed", 0.0)
        admitted, state, wait_ms, before = reply
        after = _text(state)
        if _text(before) != after:
            _notify(self.name, _text(before), after)
        return Admission(bool(int(admitted)), cast(State, after), int(wait_ms) / 1000)

    def record_failure(self) -> None:
        args = [
            self.failure_threshold,
            self.window_ms,
            self.reset_ms,
            uuid.uuid4().hex,
            self.ttl_ms,
        ]
        self._transition(self._failure, args)

    def record_success(self) -> None:
        self._transition(self._success, [])

    def release(self) -> None:
        self._run(self._release, [self.key], [])

    def state(self) -> State:
        """The stored state (``open`` stays ``open`` past its reset time until someone asks)."""
        try:
            raw = self._redis.hget(self.key, "state")
        except redis.RedisError:
            return "closed"
        return cast(State, _text(raw) if raw is not None else "closed")

    def reset(self) -> None:
        """Forget everything (operators, tests)."""
        self._redis.delete(self.key, self.failures_key)

    def _transition(self, script: Any, args: list[Any]) -> None:
        reply = self._run(script, [self.key, self.failures_key], args)
        if reply is not None:
            after, before = (_text(x) for x in reply)
            if after != before:
                _notify(self.name, before, after)

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.RedisError as exc:
            log.warning("circuit_breaker_unavailable", breaker=self.name, error=str(exc)[:200])
            return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
