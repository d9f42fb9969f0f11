"""Enqueue through an outbox: the canvas to publish is written in the same transaction as the
step rows it drives, and published only after that transaction commits.

``enqueue`` returns an ``Outbox`` handle holding what was written; ``publish`` compiles the
canvas from it (no re-read), sends it, and marks the row published in one statement. If the
process dies between commit and publish, the reconciler's ``relay`` publishes rows older than a
grace period. If it dies between publish and marking, or a slow publish overlaps the relay, the
canvas goes out twice; every step's claim makes the duplicate harmless.

Each publication mints the step messages' capability tokens (``tokens``): a relayed or
re-published canvas carries new ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from celery import Celery

from octollm.orchestrator.broker.queues import Target
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.engine.compile import StepSpec, compile_canvas
from octollm.store import outbox as outbox_repo
from octollm.store.db import Connection, Database, Session

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outbox:
    """A committed-to-be outbox row and what it says."""

    id: int
    task_id: str
    payload: dict[str, Any]
    #: The steps' grant facts when the writer has them (a submit): publish reads nothing.
    grants: Mapping[str, issuing.GrantFact] | None = None


def enqueue(
    conn: Session | Connection,
    task_id: str,
    generation: int,
    steps: list[StepSpec],
    urgency: str,
    *,
    finalize: bool = True,
) -> Outbox:
    """Write the canvas-to-be into the outbox, in the caller's transaction."""
    payload = {
        "generation": generation,
        "urgency": urgency,
        "finalize": finalize,
        "steps": [
            {"step_id": s.step_id, "arm": s.arm, "depends_on": list(s.depends_on)}
            | ({"quarantine": True} if s.quarantine else {})
            for s in steps
        ],
    }
    return Outbox(outbox_repo.add(conn, task_id, payload), task_id, payload)


def _canvas(
    app: Celery,
    target: Target,
    task_id: str,
    payload: dict[str, Any],
    conn: Session | Connection | None,
    grants: Mapping[str, issuing.GrantFact] | None = None,
) -> Any:
    specs = [
        StepSpec(s["step_id"], s["arm"], tuple(s["depends_on"]), bool(s.get("quarantine")))
        for s in payload["steps"]
    ]
    generation = int(payload["generation"])
    return compile_canvas(
        app,
        task_id,
        generation,
        specs,
        payload["urgency"],
        target,
        finalize=bool(payload["finalize"]),
        tokens=issuing.issue_for_canvas(
            app.conf, conn, task_id, generation, {s.step_id: s.arm for s in specs}, known=grants
        ),
    )


def publish(db: Database, app: Celery, target: Target, outbox: Outbox) -> None:
    """Publish a committed outbox row (with fresh capability tokens), then mark it published."""
    if outbox.grants is not None:
        canvas = _canvas(app, target, outbox.task_id, outbox.payload, None, outbox.grants)
    else:
        with db.autocommit() as conn:
            canvas = _canvas(app, target, outbox.task_id, outbox.payload, conn)
    canvas.apply_async()
    with db.autocommit() as conn:
        outbox_repo.mark_published(conn, outbox.id)


def publish_in(conn: Session | Connection, app: Celery, target: Target, outbox: Outbox) -> None:
    """Publish a row's canvas inside the caller's transaction (the fair dispatcher marks it
    released in that same transaction)."""
    _canvas(app, target, outbox.task_id, outbox.payload, conn).apply_async()


def relay(
    db: Database, app: Celery, target: Target, older_than_seconds: float, limit: int = 100
) -> int:
    """Publish outbox rows left behind by a crash; returns how many were published."""
    published = 0
    with db.session() as session:
        for row in outbox_repo.unpublished(session, older_than_seconds, limit):
            _canvas(app, target, row.task_id, row.payload, session).apply_async()
            outbox_repo.stamp_published(row)
            published += 1
            log.info("outbox_relayed", task_id=row.task_id, outbox_id=row.id)
    return published


__all__ = ["Outbox", "StepSpec", "Target", "enqueue", "publish", "publish_in", "relay"]
