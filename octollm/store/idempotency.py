"""``Idempotency-Key`` records: the first request with a key wins; repeats find its task.

A record older than the retention window no longer counts: the next request with that key
replaces it, as if the key were new.

**A claim cannot outlive its claimant.** The key is recorded (and committed) before its task
is inserted, so a concurrent repeat sees it. If the claimant dies between the two (an API
process killed), the record points to a task that never came to be. A repeat that finds such a
record older than ``CLAIM_LEASE_SECONDS`` takes it over (``Record.orphaned``) *with the same
task id*: whoever inserts that task first wins and the other insert fails on the primary key,
so even a claimant that was only slow, not dead, can never make a second task. ``release``
never forgets a key whose task exists.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from sqlalchemy import delete, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from octollm.store.api_models import IdempotencyKeyRow

#: A claim whose task is still missing after this long is presumed dead and may be taken over.
CLAIM_LEASE_SECONDS = 2.0

#: Test-only: seconds to pause after the claim committed, before the task insert (a window
#: in which a test kills the API process). Unset in production.
PAUSE_ENV = "OCTOLLM_TEST_PAUSE_AFTER_IDEMPOTENCY_CLAIM"


@dataclass(frozen=True)
class Record:
    task_id: str
    body_sha256: str
    #: The claimant died before its task existed: this request now owns the key and must
    #: create the task under ``task_id``.
    orphaned: bool = False


_EARLIER = text(
    """
    SELECT k.task_id, k.body_sha256, k.created_at,
           EXISTS (SELECT 1 FROM tasks AS t WHERE t.id = k.task_id) AS task_exists,
           EXTRACT(EPOCH FROM (now() - k.created_at)) AS age
      FROM idempotency_keys AS k
     WHERE k.tenant = :tenant AND k.key = :key
    """
)

_TAKE_OVER = text(
    """
    UPDATE idempotency_keys SET created_at = now()
     WHERE tenant = :tenant AND key = :key AND task_id = :task_id AND created_at = :created_at
       AND NOT EXISTS (SELECT 1 FROM tasks AS t WHERE t.id = :task_id)
    RETURNING task_id
    """
)


def claim(
    session: Session,
    tenant: str,
    key: str,
    body_sha256: str,
    task_id: str,
    ttl_hours: int,
    *,
    claim_lease_seconds: float = CLAIM_LEASE_SECONDS,
) -> Record | None:
    """Record ``key`` for ``task_id``; None when this request owns the key, otherwise the
    live record of an earlier request (whose body may differ), or an ``orphaned`` record this
    request has taken over (create the task under its ``task_id``)."""
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.tenant == tenant,
            IdempotencyKeyRow.key == key,
            IdempotencyKeyRow.created_at < text(f"now() - interval '{int(ttl_hours)} hours'"),
        )
    )
    inserted = session.execute(
        insert(IdempotencyKeyRow)
        .values(tenant=tenant, key=key, body_sha256=body_sha256, task_id=task_id)
        .on_conflict_do_nothing(index_elements=["tenant", "key"])
        .returning(IdempotencyKeyRow.task_id)
    ).first()
    if inserted is not None:
        return None
    row = session.execute(_EARLIER, {"tenant": tenant, "key": key}).one()
    earlier = Record(task_id=row.task_id, body_sha256=row.body_sha256)
    dead = not row.task_exists and float(row.age) >= claim_lease_seconds
    if dead and row.body_sha256 == body_sha256:
        params = {
            "tenant": tenant,
            "key": key,
            "task_id": row.task_id,
            "created_at": row.created_at,
        }
        if session.execute(_TAKE_OVER, params).first() is not None:
            return Record(task_id=row.task_id, body_sha256=body_sha256, orphaned=True)
    return earlier


def pause_after_claim() -> None:
    """Test hook (``OCTOLLM_TEST_PAUSE_AFTER_IDEMPOTENCY_CLAIM``): hold the request between
    the committed claim and the task insert. Does nothing unless the variable is set."""
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        time.sleep(float(seconds))


def release(session: Session, tenant: str, key: str, task_id: str) -> None:
    """Forget a key whose request failed before its task existed (never one whose task
    exists: a taken-over claim whose first claimant inserted the task after all)."""
    session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.tenant == tenant,
            IdempotencyKeyRow.key == key,
            IdempotencyKeyRow.task_id == task_id,
            text("NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.id = idempotency_keys.task_id)"),
        )
    )


def purge(session: Session, ttl_hours: int) -> int:
    """Delete expired records; returns how many."""
    result = session.execute(
        delete(IdempotencyKeyRow).where(
            IdempotencyKeyRow.created_at < text(f"now() - interval '{int(ttl_hours)} hours'")
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
