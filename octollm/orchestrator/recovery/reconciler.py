"""The reconciler: a periodic pass (celery beat) that repairs what crashes leave behind.

1. Outbox rows not published a few seconds after commit (a crash between commit and publish,
   or the broker was down) are published. With fair dispatch, a dispatcher pass instead (held
   rows are released in their tenant's turn, ``fairness/dispatcher.py``).
2. Steps whose lease expired (their worker died) are taken back: re-driven, or dead-lettered
   when they have used all their attempts — a step that keeps killing workers does not loop.
   Not in the first ``lease_seconds + heartbeat_seconds`` after PostgreSQL started: leases
   that lapsed while it was away have not been renewed yet by the live workers.
   First, deaths are attributed (``claims.attribute_deaths``): the steps of a process that
   died with several steps in it are suspects, get their attempt back and are re-driven to
   the quarantine lane (``isolation``), where each runs alone in a concurrency-1 worker, if a
   quarantine worker's heartbeat is live; else to their arm's own pool.
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

from octollm.contracts.arm import ErrorInfo
from octollm.errors import StorageUnavailable
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.engine import dispatch, lifecycle
from octollm.orchestrator.fairness import dispatcher as fair
from octollm.orchestrator.recovery import backlog, deadletters, isolation, journal
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims
from octollm.store import recovery as recovery_repo

log = structlog.get_logger(__name__)

OUTBOX_GRACE_SECONDS = 5.0


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
    # A suspect waits in the quarantine queue only while a quarantine worker lives; without
    # one, it is judged by its arm's queues: empty ones make it lost, and the re-drive sends
    # it there (the quarantine queue's message turns stale with the new generation).
    lane_open = any(row.suspect for row in stalled) and isolation.lane_open(rt.settings)
    lanes = {id(row): _lane(row, lane_open) for row in stalled}
    depths = backlog.queued_messages(rt, set(lanes.values())) or {}
    lost: set[str] = set()
    for row in stalled:
        if depths.get(lanes[id(row)], 0) > 0 and float(row.waited) < patience:
            report.waiting += 1
        else:
            lost.add(row.task_id)
    return lost


def _lane(row: Any, lane_open: bool) -> str:
    """The queues a stalled step's message waits in: its arm's, or the quarantine lane's."""
    if row.suspect and lane_open:
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
    if fair.enabled(rt):  # held rows are the fair dispatcher's: a pass, not the relay
        report.relayed = fair.kick(rt, periodic=True)
    else:
        report.relayed = dispatch.relay(rt.db, rt.app, rt.target, OUTBOX_GRACE_SECONDS)

    to_redrive: set[str] = set()
    grace = min(cfg.lease_seconds, 5.0)
    with rt.db.session() as session:
        # Right after PostgreSQL (re)started, live workers have not yet renewed the leases
        # that lapsed while it was away: an expired lease proves nothing yet. Judging now
        # would make every worker with several steps a dead process (its steps suspects,
        # their finished outputs refused as "lease lost"). Wait one lease and heartbeat.
        uptime = recovery_repo.database_uptime(session)
        judge = uptime >= cfg.lease_seconds + cfg.heartbeat_seconds
        if not judge:
            log.info("lease_checks_deferred", database_uptime=round(uptime, 1))
        # One transaction, so one now(): attribution and the expiry scan draw the same line,
        # and no expired step is re-driven (its attempt counted) before its death is
        # attributed (with two, a lease could cross the line between the statements).
        suspects = claims.attribute_deaths(session, grace) if judge else []
        if suspects:
            log.warning("worker_died_with_several_steps", suspects=len(suspects))
        expired = (
            recovery_repo.expired_leases(session, grace, cfg.heartbeat_seconds) if judge else []
        )
        for row in expired:
            finished = journal.pending(rt, row.task_id, row.step_id, row.attempts + 1)
            if row.attempts >= row.max_attempts and (finished is None or not finished.final):
                if deadletters.exhaust(rt, session, row.task_id, row.step_id):
                    report.dead_lettered.append(f"{row.task_id}/{row.step_id}")
            else:
                to_redrive.add(row.task_id)
        stalled = recovery_repo.stalled_steps(session, cfg.stall_seconds)
        unfinalized = recovery_repo.unfinalized_tasks(session, min(cfg.stall_seconds, 5.0))
        overdue = recovery_repo.overdue_tasks(session)

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
