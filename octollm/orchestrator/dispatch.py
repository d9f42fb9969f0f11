"""Enqueue through an outbox: the canvas to publish is written in the same transaction as the
step rows it drives, and published only after that transaction commits.

If the process dies between commit and publish, the reconciler's relay publishes the row
later. If it dies between publish and marking the row, the canvas is published twice; every
step's claim makes the duplicate harmless.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from octollm.orchestrator.compile import StepSpec, Target, compile_canvas
from octollm.store.db import Database
from octollm.store.models import OutboxRow

log = structlog.get_logger(__name__)


def enqueue(
    session: Session,
    task_id: str,
    generation: int,
    steps: list[StepSpec],
    urgency: str,
    *,
    finalize: bool = True,
) -> int:
    """Write the canvas-to-be into the outbox; returns the outbox id."""
    row = OutboxRow(
        task_id=task_id,
        kind="canvas",
        payload={
            "generation": generation,
            "urgency": urgency,
            "finalize": finalize,
            "steps": [
                {"step_id": s.step_id, "arm": s.arm, "depends_on": list(s.depends_on)}
                for s in steps
            ],
        },
    )
    session.add(row)
    session.flush()
    return int(row.id)


def _canvas(app: Celery, target: Target, row: OutboxRow) -> Any:
    payload = row.payload
    specs = [StepSpec(s["step_id"], s["arm"], tuple(s["depends_on"])) for s in payload["steps"]]
    return compile_canvas(
        app,
        row.task_id,
        int(payload["generation"]),
        specs,
        payload["urgency"],
        target,
        finalize=bool(payload["finalize"]),
    )


def publish(db: Database, app: Celery, target: Target, outbox_id: int) -> bool:
    """Publish one outbox row if nobody else is; True when this call published it."""
    with db.session() as session:
        row = session.scalars(
            select(OutboxRow)
            .where((OutboxRow.id == outbox_id) & (OutboxRow.published_at.is_(None)))
            .with_for_update(skip_locked=True)
        ).one_or_none()
        if row is None:
            return False
        _canvas(app, target, row).apply_async()
        row.published_at = text("now()")  # type: ignore[assignment]
    return True


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
                    < text(f"now() - interval '{float(older_than_seconds)} seconds'")
                )
            )
            .order_by(OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            _canvas(app, target, row).apply_async()
            row.published_at = text("now()")  # type: ignore[assignment]
            published += 1
            log.info("outbox_relayed", task_id=row.task_id, outbox_id=row.id)
    return published


__all__ = ["StepSpec", "Target", "asdict", "enqueue", "publish", "relay"]
