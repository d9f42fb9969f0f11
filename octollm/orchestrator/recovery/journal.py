"""The outcome journal: outcomes that could not be recorded because Postgres was away.

A step attempt that finished keeps retrying to record its outcome for
``orchestrator.outcome_record_seconds``. If Postgres is still away then, the attempt writes the
outcome here (Redis, ``octollm:journal:{task_id}:{step_id}``, kept for a week) and gives up: it
leaves the lease keeper, so its lease lapses and a redelivery or the reconciler takes the step
over at once when Postgres returns. That next claim (attempt > 1) reads the journal first and,
when it holds the outcome of an earlier attempt, records that outcome; then the entry is
deleted. Every decided outcome is kept, by kind:

* ``succeeded``: the next claim records the output instead of running the arm again, so a
  finished step is neither lost nor re-run, however long the outage.
* ``failed`` (a permanent error, or a transient one on the last attempt, with its dead-letter
  reason): the next claim records that failure, with the arm's own error, instead of running
  the arm again (a permanent failure would otherwise be retried, and a last attempt would be
  dead-lettered as ``poison``/``REDELIVERY_LIMIT``, its real error lost).
* ``retry`` (a transient error with attempts left): the next claim *is* the retry, so the arm
  runs; the journalled error is reported first (``step.retrying``, logged as
  ``journalled_retry_observed``), so the failed attempt is not lost from the task's history.

``succeeded`` and ``failed`` are *final* (``Entry.final``): when no attempt is left to claim,
the step is adopted to record them, and the reconciler does not dead-letter a step that has
one. A cancellation is not journalled: the cancel flag is in Postgres, and the next claim of a
cancelled task is refused.

The journal is shared by every worker (unlike a process-local file, it survives the worker that
wrote it). Without a reachable Redis the outcome is lost and the step runs again (logged as
``outcome_not_journalled``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog
from redis.exceptions import RedisError

from octollm.orchestrator.calls.providers import redis_client
from octollm.orchestrator.runtime import Runtime

log = structlog.get_logger(__name__)

PREFIX = "octollm:journal"
KEEP_SECONDS = 7 * 24 * 3600


SUCCEEDED, FAILED, RETRY = "succeeded", "failed", "retry"


@dataclass(frozen=True)
class Entry:
    """A finished attempt's outcome, waiting to be recorded (entries written before kinds
    existed are successes)."""

    attempt: int
    output: dict[str, Any]
    provenance: dict[str, Any]
    confidence: float = 1.0
    model: str | None = None
    kind: str = SUCCEEDED
    #: ``ErrorInfo`` as JSON, for ``failed`` and ``retry``.
    error: dict[str, Any] | None = None
    #: The dead-letter reason of a ``failed`` entry (``exhausted``), if any.
    dead_letter: str | None = None

    @property
    def final(self) -> bool:
        """The step's outcome (not a retry, after which the step still has to run)."""
        return self.kind in (SUCCEEDED, FAILED)


def failure(
    attempt: int, kind: str, error: dict[str, Any], dead_letter: str | None = None
) -> Entry:
    """A ``failed`` or ``retry`` entry."""
    return Entry(attempt, {}, {}, kind=kind, error=error, dead_letter=dead_letter)


def _key(task_id: str, step_id: str) -> str:
    return f"{PREFIX}:{task_id}:{step_id}"


def _client(rt: Runtime) -> Any:
    try:
        return redis_client(rt.settings.redis_url())
    except RuntimeError:  # no Redis configured
        return None


def keep(rt: Runtime, task_id: str, step_id: str, entry: Entry) -> bool:
    """Write ``entry``; False when Redis is unreachable too (the work will run again)."""
    client = _client(rt)
    if client is None:
        log.error("outcome_not_journalled", reason="no redis")
        return False
    try:
        client.set(_key(task_id, step_id), json.dumps(entry.__dict__), ex=KEEP_SECONDS)
    except RedisError as exc:
        log.error("outcome_not_journalled", error=str(exc)[:200])
        return False
    log.warning("outcome_journalled", attempt=entry.attempt, kind=entry.kind)
    return True


def pending(rt: Runtime, task_id: str, step_id: str, before_attempt: int) -> Entry | None:
    """The journalled outcome of an attempt earlier than ``before_attempt``, if any."""
    client = _client(rt)
    if client is None:
        return None
    try:
        raw = client.get(_key(task_id, step_id))
    except RedisError as exc:
        log.warning("journal_unreadable", error=str(exc)[:200])
        return None
    if raw is None:
        return None
    entry = Entry(**json.loads(raw))
    return entry if entry.attempt < before_attempt else None


def forget(rt: Runtime, task_id: str, step_id: str) -> None:
    client = _client(rt)
    if client is None:
        return
    try:
        client.delete(_key(task_id, step_id))
    except RedisError as exc:  # harmless: the entry's attempt is older than any later claim
        log.warning("journal_not_cleared", error=str(exc)[:200])
