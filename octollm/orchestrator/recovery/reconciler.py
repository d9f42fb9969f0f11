"""The reconciler: a periodic pass (celery beat) that repairs what crashes leave behind.

1. Outbox rows not published a few seconds after commit (a crash between commit and publish,
   or the broker was down) are published.
2. Steps whose lease expired (their worker died) are taken back: re-driven, or dead-lettered
   when they have used all their attempts — a step that keeps killing workers does not loop.
   Not in the first ``lease_seconds + heartbeat_seconds`` after PostgreSQL started: leases
   that lapsed while it was away have not been renewed yet by the live workers.
   First, deaths are attributed (``claims.attribute_deaths``): the steps of a process that
   died with several steps in it are suspects, get their attempt back and are re-driven to
   the quarantine lane (``isolation``), where each runs alone in a concurrency-1 worker.
3. Steps that are ready (every dependency finished) but nobody has picked up for
   ``stall_seconds`` (a lost chord, a flushed or restarted broker) are re-driven, unless their
   arm's queues still hold messages (``backlog``): then they are waiting their turn, not lost,
   and a second message would only be a redundant delivery. A retry waiting out its backoff
   (``not_before``) is not stalled.
4. Tasks whose steps are all finished but that are still open (a lost finalize) are finalized.
5. Tasks past their deadline are failed.

Every repair is derived from Postgres state alone; Redis may have lost everything. A pass
while Postgres is down does nothing and says so; the next one catches up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import text

from octollm.contracts.arm import ErrorInfo
from octollm.errors import StorageUnavailable
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.engine import dispatch, lifecycle
from octollm.orchestrator.recovery import backlog, deadletters, journal
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims

log = structlog.get_logger(__name__)

OUTBOX_GRACE_SECONDS = 5.0

_EXPIRED = text(
    """
    SELECT s.task_id, s.step_id, s.attempts, s.max_attempts
      FROM steps s JOIN tasks t ON t.id = s.task_id
     WHERE s.status = 'running'
       AND s.lease_until < now() - make_interval(secs => :grace)
       AND t.status IN ('queued', 'planning', 'processing')
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
    """
)

#: Seconds since PostgreSQL started: right after a restart, no lease could be renewed.
_DB_UPTIME = text("SELECT EXTRACT(EPOCH FROM (now() - pg_postmaster_start_time()))")

_STALLED = text(
    """
    SELECT s.task_id, s.arm, s.suspect,
           EXTRACT(EPOCH FROM (now() - GREATEST(
             s.queued_at, s.not_before,
             (SELECT max(p.finished_at) FROM steps p
               WHERE p.task_id = s.task_id
                 AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on)))
           ))) AS waited
      FROM steps s JOIN tasks t ON t.id = s.task_id
     WHERE s.status = 'queued'
       AND t.status IN ('queued', 'planning', 'processing') AND NOT t.cancel_requested
       AND NOT EXISTS (SELECT 1 FROM steps p
                        WHERE p.task_id = s.task_id
                          AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on))
                          AND p.status NOT IN ('succeeded', 'failed'))
       AND GREATEST(
             s.queued_at, s.not_before,
             (SELECT max(p.finished_at) FROM steps p
               WHERE p.task_id = s.task_id
                 AND p.step_id IN (SELECT jsonb_array_elements_text(s.depends_on)))
           ) < now() - make_interval(secs => :stall)
       AND t.updated_at < now() - make_interval(secs => :stall)
     LIMIT 500
    """
)

_UNFINALIZED = text(
    """
    SELECT t.id FROM tasks t
     WHERE t.status = 'processing'
       AND t.updated_at < now() - make_interval(secs => :grace)
       AND NOT EXISTS (SELECT 1 FROM steps s
                        WHERE s.task_id = t.id
                          AND s.status NOT IN ('succeeded', 'failed', 'skipped', 'cancelled'))
     LIMIT 100
    """
)

_OVERDUE = text(
    """
    SELECT id FROM tasks
     WHERE status IN ('queued', 'planning', 'processing') AND deadline < now()
     LIMIT 100
    """
)


@dataclass
class Report:
    relayed: int = 0
    redriven: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    finalized: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    storage_unavailable: bool = False
    #: Ready steps not re-driven because their arm's queues still hold messages.
    waiting: int = 0

    def any(self) -> bool:
        return bool(
            self.relayed or self.redriven or self.dead_lettered or self.finalized or self.expired
        )


def _lost(rt: Runtime, stalled: Sequence[Any], report: Report) -> set[str]:
    """The tasks of stalled steps that lost their message, not those waiting their turn
    behind a queue that still holds messages (see ``orchestrator/backlog.py``)."""
    if not stalled:
        return set()
    patience = rt.settings.orchestrator.stall_patience_seconds
    lanes = {id(row): _lane(rt, row) for row in stalled}
    depths = backlog.queued_messages(rt, set(lanes.values())) or {}
    lost: set[str] = set()
    for row in stalled:
        if depths.get(lanes[id(row)], 0) > 0 and float(row.waited) < patience:
            report.waiting += 1
        else:
            lost.add(row.task_id)
    return lost


def _lane(rt: Runtime, row: Any) -> str:
    """The queues a stalled step's message waits in: its arm's, or the quarantine lane's."""
    if row.suspect and rt.settings.orchestrator.quarantine_lane:
        return routing.QUARANTINE_ARM
    return str(row.arm)


def reconcile(rt: Runtime) -> Report:
    try:
        return _reconcile(rt)
    except StorageUnavailable as exc:
        log.warning("reconcile_skipped", reason="storage unavailable", error=exc.message)
        return Report(storage_unavailable=True)


def _reconcile(rt: Runtime) -> Report:
    cfg = rt.settings.orchestrator
    report = Report()
    report.relayed = dispatch.relay(rt.db, rt.app, rt.target, OUTBOX_GRACE_SECONDS)

    to_redrive: set[str] = set()
    grace = min(cfg.lease_seconds, 5.0)
    with rt.db.session() as session:
        # Right after PostgreSQL (re)started, live workers have not yet renewed the leases
        # that lapsed while it was away: an expired lease proves nothing yet. Judging now
        # would make every worker with several steps a dead process (its steps suspects,
        # their finished outputs refused as "lease lost"). Wait one lease and heartbeat.
        uptime = float(session.execute(_DB_UPTIME).scalar_one())
        judge = uptime >= cfg.lease_seconds + cfg.heartbeat_seconds
        if not judge:
            log.info("lease_checks_deferred", database_uptime=round(uptime, 1))
        # One transaction, so one now(): attribution and the expiry scan draw the same line,
        # and no expired step is re-driven (its attempt counted) before its death is
        # attributed (with two, a lease could cross the line between the statements).
        suspects = claims.attribute_deaths(session, grace) if judge else []
        if suspects:
            log.warning("worker_died_with_several_steps", suspects=len(suspects))
        expiry = {"grace": grace, "heartbeat": cfg.heartbeat_seconds}
        for row in session.execute(_EXPIRED, expiry).all() if judge else []:
            finished = journal.pending(rt, row.task_id, row.step_id, row.attempts + 1)
            if row.attempts >= row.max_attempts and (finished is None or not finished.final):
                if deadletters.exhaust(rt, session, row.task_id, row.step_id):
                    report.dead_lettered.append(f"{row.task_id}/{row.step_id}")
            else:
                to_redrive.add(row.task_id)
        stalled = session.execute(_STALLED, {"stall": cfg.stall_seconds}).all()
        unfinalized = list(
            session.execute(_UNFINALIZED, {"grace": min(cfg.stall_seconds, 5.0)}).scalars()
        )
        overdue = list(session.execute(_OVERDUE).scalars())

    to_redrive.update(_lost(rt, stalled, report))
    for task_id in sorted(to_redrive):
        if lifecycle.redrive(rt, task_id, reason="reconcile"):
            report.redriven.append(task_id)
    for task_id in unfinalized:
        if lifecycle.finalize(rt, task_id) in ("completed", "failed"):
            report.finalized.append(task_id)
    for task_id in overdue:
        error = ErrorInfo(
            code="DEADLINE_EXCEEDED",
            category="budget",
            message="task passed its deadline (budget.max_time_seconds or deadline)",
        )
        if lifecycle.fail_task(rt, task_id, error):
            report.expired.append(task_id)
    if report.any():
        log.info(
            "reconciled",
            waiting=report.waiting,
            relayed=report.relayed,
            redriven=len(report.redriven),
            dead_lettered=len(report.dead_lettered),
            finalized=len(report.finalized),
            expired=len(report.expired),
        )
    return report
