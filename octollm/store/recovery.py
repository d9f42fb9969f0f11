"""The reconciler's reads: what crashes left behind, found from Postgres state alone.

Each query is bounded (``LIMIT``) so that one pass stays short after a long outage; the next
pass picks up the rest. Statuses are spelled as literals (``sql_list``) so that Postgres uses
the partial indexes on live tasks and queued steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from octollm.contracts.status import (
    ACTIVE_TASK_STATUSES,
    RAN_STEP_STATUSES,
    TERMINAL_STEP_STATUSES,
    sql_list,
)

_ACTIVE = sql_list(ACTIVE_TASK_STATUSES)

_EXPIRED = text(
    f"""
    SELECT s.task_id, s.step_id, s.attempts, s.max_attempts
      FROM steps s JOIN tasks t ON t.id = s.task_id
     WHERE s.status = 'running'
       AND s.lease_until < now() - make_interval(secs => :grace)
       AND t.status IN ({_ACTIVE})
       -- Not while a co-resident's lease in a dead process has yet to cross the line: a
       -- death is judged by the process's latest lease (attribute_deaths), and a step
       -- claimed just before it may hold a lease up to one heartbeat later than this one's.
       -- Re-driven now, this step's attempt would count before it is found a suspect. (In
       -- a live process the others are renewed, far past that bound: no wait.)
       AND NOT EXISTS (SELECT 1 FROM steps o
                        WHERE o.lease_owner = s.lease_owner AND o.status = 'running'
                          AND o.lease_until >= now() - make_interval(secs => :grace)
                          AND o.lease_until <= s.lease_until
                                               + make_interval(secs => :heartbeat))
     LIMIT 200
    """  # noqa: S608 - status literals from the enums, values bound
)

#: Seconds since PostgreSQL started: right after a restart, no lease could be renewed.
_DB_UPTIME = text("SELECT EXTRACT(EPOCH FROM (now() - pg_postmaster_start_time()))")

_STALLED = text(
    f"""
    SELECT s.task_id, s.arm, s.suspect,
           EXTRACT(EPOCH FROM (now() - GREATEST(
             s.queued_at, s.not_before,
             (SELECT max(p.finished_at) FROM steps p
               WHERE p.task_id = s.task_id
                 AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on)))
           ))) AS waited
      FROM steps s JOIN tasks t ON t.id = s.task_id
     WHERE s.status = 'queued'
       AND t.status IN ({_ACTIVE}) AND NOT t.cancel_requested
       AND NOT EXISTS (SELECT 1 FROM steps p
                        WHERE p.task_id = s.task_id
                          AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))
                          AND p.status NOT IN ({sql_list(RAN_STEP_STATUSES)}))
       AND GREATEST(
             s.queued_at, s.not_before,
             (SELECT max(p.finished_at) FROM steps p
               WHERE p.task_id = s.task_id
                 AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on)))
           ) < now() - make_interval(secs => :stall)
       AND t.updated_at < now() - make_interval(secs => :stall)
       -- a held canvas (fair dispatch) waits for its tenant's turn: not lost
       AND NOT EXISTS (SELECT 1 FROM outbox o
                        WHERE o.task_id = s.task_id AND o.published_at IS NULL)
     LIMIT 500
    """  # noqa: S608 - status literals from the enums, values bound
)

_UNFINALIZED = text(
    f"""
    SELECT t.id FROM tasks t
     WHERE t.status = 'processing'
       AND t.updated_at < now() - make_interval(secs => :grace)
       AND NOT EXISTS (SELECT 1 FROM steps s
                        WHERE s.task_id = t.id
                          AND s.status NOT IN ({sql_list(TERMINAL_STEP_STATUSES)}))
     LIMIT 100
    """  # noqa: S608 - status literals from the enums, values bound
)

_OVERDUE = text(
    f"""
    SELECT id FROM tasks
     WHERE status IN ({_ACTIVE}) AND deadline < now()
     LIMIT 100
    """  # noqa: S608 - status literals from the enums, values bound
)


def expired_leases(session: Session, grace: float, heartbeat: float) -> Sequence[Any]:
    """Running steps of live tasks whose lease ended ``grace`` seconds ago (their worker
    died), unless a co-resident in the same process holds a lease up to one ``heartbeat``
    later: rows of ``task_id, step_id, attempts, max_attempts``."""
    return session.execute(_EXPIRED, {"grace": grace, "heartbeat": heartbeat}).all()


def database_uptime(session: Session) -> float:
    """Seconds since PostgreSQL (re)started."""
    return float(session.execute(_DB_UPTIME).scalar_one())


def stalled_steps(session: Session, stall_seconds: float) -> Sequence[Any]:
    """Ready steps (every dependency ran) nobody picked up for ``stall_seconds``, while their
    task did not move either: rows of ``task_id, arm, suspect, waited`` (seconds)."""
    return session.execute(_STALLED, {"stall": stall_seconds}).all()


def unfinalized_tasks(session: Session, grace: float) -> list[str]:
    """Processing tasks whose steps have all ended ``grace`` seconds ago (a lost finalize)."""
    return list(session.execute(_UNFINALIZED, {"grace": grace}).scalars())


def overdue_tasks(session: Session) -> list[str]:
    """Live tasks past their deadline."""
    return list(session.execute(_OVERDUE).scalars())
