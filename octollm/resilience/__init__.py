"""Resilience around remote calls: retries with backoff and a circuit breaker shared by all
workers through Redis. ``Guard`` composes them: each attempt passes the breaker, the retry
policy decides whether another attempt is worth it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from octollm.resilience.breaker import CircuitBreaker, on_state_change, remove_listener
from octollm.resilience.retry import CIRCUIT_OPEN, RetryPolicy, is_retryable

T = TypeVar("T")


@dataclass(frozen=True)
class Guard:
    """``retry(breaker(fn))``: an open breaker fails the call at once, without retrying."""

    retry: RetryPolicy
    breaker: CircuitBreaker | None = None

    def call(self, fn: Callable[[], T]) -> T:
        breaker = self.breaker
        if breaker is None:
            return self.retry.call(fn)
        return self.retry.call(lambda: breaker.call(fn))


__all__ = [
    "CIRCUIT_OPEN",
    "CircuitBreaker",
    "Guard",
    "RetryPolicy",
    "is_retryable",
    "on_state_change",
    "remove_listener",
]
