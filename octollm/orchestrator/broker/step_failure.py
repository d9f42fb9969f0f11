"""A failed step ends its Celery task in FAILURE, and the canvas moves on as after a success.

Postgres is the record of what a step came to; the Celery state is what monitors (Flower, the
result backend) show. A step whose failure was recorded raises ``StepFailed`` from its Celery
task, so monitors count it as failed. The canvas must not stop there: a failed optional step
leaves a gap its dependants still run with, and a failed required step ends (or repairs) its
task, which the next messages find out from Postgres (they do nothing). So before raising, the
task sends the rest of its chain and its callbacks exactly as Celery does after a success
(``continue_canvas``), and the result backend (``result_backend.Backend``) counts a
``StepFailed`` chord member as a finished one: the chord body runs and the chain is not
failed forward. The message is acknowledged as after a success (``acks_late`` with
``task_acks_on_failure_or_timeout``, Celery's default): no redelivery.
"""

from __future__ import annotations

from typing import Any

from celery import Task, group
from celery.canvas import maybe_signature


class StepFailed(Exception):
    """The step's failure is recorded in Postgres; its Celery task ends in FAILURE."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def continue_canvas(task: Task, retval: Any = None) -> None:
    """Send the current request's callbacks and the next part of its chain, as Celery's
    tracer does after a success (``celery.app.trace``): a failure must not stop the canvas."""
    request = task.request
    app = task.app
    parent_id = request.id
    root_id = request.root_id or request.id
    priority = (request.delivery_info or {}).get("priority")
    callbacks = request.callbacks or []
    if callbacks:
        sigs = [maybe_signature(sig, app=app) for sig in callbacks]
        groups = [s for s in sigs if isinstance(s, group)]
        plain = [s for s in sigs if not isinstance(s, group)]
        for sig in groups:
            sig.apply_async((retval,), parent_id=parent_id, root_id=root_id, priority=priority)
        if len(plain) == 1:
            plain[0].apply_async((retval,), parent_id=parent_id, root_id=root_id, priority=priority)
        elif plain:
            group(plain, app=app).apply_async(
                (retval,), parent_id=parent_id, root_id=root_id, priority=priority
            )
    chain = request.chain
    if chain:
        nxt = maybe_signature(chain[-1], app=app)
        nxt.apply_async(
            (retval,), chain=chain[:-1], parent_id=parent_id, root_id=root_id, priority=priority
        )
