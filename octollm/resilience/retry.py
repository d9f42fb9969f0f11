"""Retries of one remote call: exponential backoff with jitter, ``Retry-After`` honoured.

``RetryPolicy.call(fn)`` runs ``fn`` up to ``attempts`` times (tenacity). What is retried comes
from the error class, never from the call site::

    RateLimited (429)                           retried, after its retry_after (x1.0-1.1)
    ServiceUnavailable (5xx, 408, timeouts,     retried, after base x 2^(n-1) x U(0.5, 1.5),
      connection errors, unreadable body)         capped at max_seconds
    an open circuit breaker (CIRCUIT_OPEN)      never: failing fast is its point
    a retry_after above max_retry_after         never in-process: the step is retried later by
                                                the orchestrator (its backoff honours it too)
    anything else (other 4xx, bugs)             never

The in-process budget is small on purpose: a worker thread waiting out a long outage holds a
pool slot that other steps could use; the orchestrator's step retry re-queues instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from octollm.errors import OctoError, RateLimited, ServiceUnavailable

T = TypeVar("T")
log = structlog.get_logger(__name__)

#: ``details["reason"]`` of the error an open circuit breaker raises.
CIRCUIT_OPEN = "CIRCUIT_OPEN"


def is_retryable(exc: BaseException, max_retry_after: float) -> bool:
    """Whether ``exc`` is worth another attempt in-process."""
    if not isinstance(exc, RateLimited | ServiceUnavailable):
        return False
    if exc.details.get("reason") == CIRCUIT_OPEN:
        return False
    return exc.retry_after is None or exc.retry_after <= max_retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    base_seconds: float = 0.5
    max_seconds: float = 8.0
    max_retry_after_seconds: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after = exc.retry_after if isinstance(exc, OctoError) else None
        if retry_after is not None:
            return float(retry_after) * random.uniform(1.0, 1.1)  # noqa: S311 - jitter
        backoff = self.base_seconds * 2.0 ** max(0, attempt - 1)
        return float(min(self.max_seconds, backoff * random.uniform(0.5, 1.5)))  # noqa: S311

    def call(self, fn: Callable[[], T]) -> T:
        if self.attempts <= 1:
            return fn()
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: is_retryable(e, self.max_retry_after_seconds)),
            sleep=self.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(fn)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return self.delay(state.attempt_number, exc)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.info(
        "remote_call_retrying",
        attempt=state.attempt_number,
        wait_seconds=round(wait, 3),
        error_code=getattr(exc, "code", type(exc).__name__),
        status=getattr(exc, "details", {}).get("status"),
    )
