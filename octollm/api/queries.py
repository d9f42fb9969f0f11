"""Reads the routes answer with, always inside the caller's tenant, and the page cursor."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from octollm.api import views
from octollm.api.schemas import StepList, TaskCounts, TaskPage, TaskView
from octollm.errors import InvalidInput, NotFound
from octollm.store import task_listing
from octollm.store import tasks as task_repo
from octollm.store.db import Database


def not_found(task_id: str) -> NotFound:
    return NotFound(f"task {task_id} not found", details={"task_id": task_id})


def task(db: Database, tenant: str, task_id: str) -> TaskView:
    with db.session() as session:
        row = task_repo.get(session, task_id, tenant=tenant)
        if row is None:
            raise not_found(task_id)
        steps = task_listing.steps(session, task_id)
        results = task_listing.results(session, task_id)
    return views.task_view(row, steps, results)


def require_task(db: Database, tenant: str, task_id: str) -> str:
    """The task's status; ``NotFound`` when it is not this tenant's."""
    with db.session() as session:
        row = task_repo.get(session, task_id, tenant=tenant)
    if row is None:
        raise not_found(task_id)
    return row.status


def steps(db: Database, tenant: str, task_id: str) -> StepList:
    with db.session() as session:
        if task_repo.get(session, task_id, tenant=tenant) is None:
            raise not_found(task_id)
        rows = task_listing.steps(session, task_id)
        results = task_listing.results(session, task_id)
    return StepList(
        task_id=task_id, steps=[views.step_view(r, results.get(r.step_id)) for r in rows]
    )


def encode_cursor(position: task_listing.Position) -> str:
    raw = json.dumps({"t": position.created_at.isoformat(), "i": position.task_id})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> task_listing.Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return task_listing.Position(datetime.fromisoformat(data["t"]), str(data["i"]))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "cursor is not one this API returned", details={"field": "query.cursor"}
        ) from exc


def aware(value: datetime | None) -> datetime | None:
    """Naive timestamps in filters are taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def page(db: Database, where: task_listing.TaskFilter, limit: int, cursor: str | None) -> TaskPage:
    after = decode_cursor(cursor) if cursor else None
    with db.session() as session:
        rows, nxt = task_listing.page(session, where, limit, after)
    return TaskPage(
        items=[views.summary(r) for r in rows],
        next_cursor=encode_cursor(nxt) if nxt is not None else None,
    )


def counts(db: Database, where: task_listing.TaskFilter) -> TaskCounts:
    with db.session() as session:
        by_status = task_listing.counts(session, where)
    return TaskCounts(total=sum(by_status.values()), by_status=by_status)
