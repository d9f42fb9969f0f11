"""The retry policy of remote calls: what is retried, how long it waits (no real sleeping)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from octollm.errors import LLMUnavailable, PermanentError, RateLimited
from octollm.resilience import CIRCUIT_OPEN, RetryPolicy


class Script:
    """Raises the given errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(waits: list[float], **kw: float) -> RetryPolicy:
    sleep: Callable[[float], None] = waits.append
    return RetryPolicy(sleep=sleep, **kw)  # type: ignore[arg-type]


def test_server_errors_are_retried_with_growing_jittered_backoff() -> None:
    waits: list[float] = []
    fn = Script(LLMUnavailable("500"), LLMUnavailable("502"))
    assert policy(waits, attempts=3, base_seconds=1.0, max_seconds=10.0).call(fn) == "ok"
    assert fn.calls == 3
    assert 0.5 <= waits[0] <= 1.5
    assert 1.0 <= waits[1] <= 3.0


def test_retry_after_is_honoured_for_a_rate_limit() -> None:
    waits: list[float] = []
    fn = Script(RateLimited("429", retry_after=2.0))
    assert policy(waits).call(fn) == "ok"
    assert 2.0 <= waits[0] <= 2.2


def test_a_retry_after_longer_than_the_in_process_budget_is_raised_for_the_step_retry() -> None:
    waits: list[float] = []
    fn = Script(RateLimited("429", retry_after=120.0))
    with pytest.raises(RateLimited):
        policy(waits, max_retry_after_seconds=20.0).call(fn)
    assert (fn.calls, waits) == (1, [])


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("HTTP 400", details={"status": 400}),
        LLMUnavailable("breaker open", retry_after=5, details={"reason": CIRCUIT_OPEN}),
        ValueError("a bug"),
    ],
)
def test_client_errors_an_open_breaker_and_bugs_are_not_retried(error: Exception) -> None:
    waits: list[float] = []
    fn = Script(error)
    with pytest.raises(type(error)):
        policy(waits).call(fn)
    assert fn.calls == 1


def test_the_last_error_is_raised_when_the_attempts_run_out() -> None:
    fn = Script(*(LLMUnavailable(f"500 #{i}") for i in range(5)))
    with pytest.raises(LLMUnavailable, match="#2"):
        policy([], attempts=3).call(fn)
    assert fn.calls == 3
