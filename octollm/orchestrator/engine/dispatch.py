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

from dataclasses import dataclass
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session

from octollm.orchestrator.capability import issuing
from octollm.orchestrator.engine.compile import StepSpec, Target, compile_canvas
from octollm.store.db import Database
from octollm.store.models import OutboxRow

log = structlog.get_logger(__name__)

_MARK = text("UPDATE outbox SET published_at = now() WHERE id = :id AND published_at IS NULL")


@dataclass(frozen=True)
class Outbox:
    """A committed-to-be outbox row and what it says."""

    id: int
    task_id: str
    payload: dict[str, Any]


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
    outbox_id = conn.execute(
        insert(OutboxRow)
        .values(task_id=task_id, kind="canvas", payload=payload)
        .returning(OutboxRow.id)
    ).scalar_one()
    return Outbox(int(outbox_id), task_id, payload)


def _canvas(
    app: Celery,
    target: Target,
    task_id: str,
    payload: dict[str, Any],
    conn: Session | Connection,
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
        tokens=issuing.issue_for_canvas(app.conf, conn, task_id, generation, specs),
    )


def publish(db: Database, app: Celery, target: Target, outbox: Outbox) -> None:
    """Publish a committed outbox row (with fresh capability tokens), then mark it published."""
    with db.autocommit() as conn:
        canvas = _canvas(app, target, outbox.task_id, outbox.payload, conn)
    canvas.apply_async()
    with db.autocommit() as conn:
        conn.execute(_MARK, {"id": outbox.id})


def relay(
    db: Database, app: Celery, target: Target, older_than_seconds: float, limit: int = 100
) -> int:
    """Publish outbox rows left behind by a crash; returns how many were published."""
    published = 0
    with db.session() as session:
        rows = session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.published_at.is_(None)
                & (
                    OutboxRow.created_at
                    < text("now() - make_interval(secs => :grace)").bindparams(
                        grace=float(older_than_seconds)
                    )
                )
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            _canvas(app, target, row.task_id, row.payload, session).apply_async()
            row.published_at = text("now()")  # type: ignore[assignment]
            published += 1
            log.info("outbox_relayed", task_id=row.task_id, outbox_id=row.id)
    return published


__all__ = ["Outbox", "StepSpec", "Target", "enqueue", "publish", "relay"]
