"""Celery's Redis result backend, minus the client-side bookkeeping octollm never uses.

Celery registers every group member a process freezes (and every task it sends with a result)
as a *pending result*: a strong reference plus a subscription to the result's Redis channel,
dropped only when the result arrives and someone reads it. octollm never waits on Celery
results (outputs live in Postgres; chords only need the backend's counters), so in a publisher
such as the API, or a worker sending a chain's next chord, those entries would pile up for
every chord member ever sent. This backend keeps chord counting and result storage as they
are and skips the pending-result tracking.

A step whose failure is recorded ends in FAILURE (``step_failure.StepFailed``) without
failing its canvas: as a chord member it counts as finished (the body runs), and the tasks
chained after it are not marked failed (its task sent them on: ``step_failure``).

Select it with ``backend_url(url)``: ``octollm.orchestrator.broker.result_backend:Backend+redis://...``.
"""

from __future__ import annotations

from typing import Any

from celery import states
from celery.backends.redis import RedisBackend

from octollm.orchestrator.broker.step_failure import StepFailed

_PATH = "octollm.orchestrator.broker.result_backend:Backend"


class Backend(RedisBackend):  # type: ignore[misc]  # celery is untyped
    def add_pending_result(
        self, result: Any, weak: bool = False, start_drainer: bool = True
    ) -> Any:
        return result

    def remove_pending_result(self, result: Any) -> Any:
        return result

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None

    def mark_as_failure(
        self,
        task_id: str,
        exc: BaseException,
        traceback: Any = None,
        request: Any = None,
        store_result: bool = True,
        call_errbacks: bool = True,
        state: str = states.FAILURE,
    ) -> None:
        if not isinstance(exc, StepFailed):
            super().mark_as_failure(
                task_id, exc, traceback, request, store_result, call_errbacks, state
            )
            return
        if store_result:
            self.store_result(task_id, exc, state, traceback=traceback, request=request)
        if request is not None and request.chord:
            # The chord counts a finished member: its body runs and reads Postgres.
            self.on_chord_part_return(request, states.SUCCESS, None)


def backend_url(url: str) -> str:
    """The ``result_backend`` setting for ``url`` (``redis://``, ``rediss://`` or
    ``redis+socket://``) using this backend; other URLs are returned unchanged.

    Celery reads ``<backend>+<url>``; for ``redis+socket://`` it hands the backend the
    ``socket://`` part, and so do we."""
    if url.startswith("redis+socket://"):
        return f"{_PATH}+{url.removeprefix('redis+')}"
    if url.startswith(("redis://", "rediss://")):
        return f"{_PATH}+{url}"
    return url
