"""Recording outcomes kept in the journal (``recovery/journal.py``) by an earlier attempt.

``journalled_on_outage`` wraps the recording of a failure or retry decision: when Postgres
stays away for the whole recording window, the decision goes to the journal and the attempt
gives up (a success is journalled by the runner itself). ``recorded_from_journal`` is what a
later claim of the step does first: record the journalled success or failure instead of
running the arm again, or report a journalled retry and let the arm run (this claim is that
retry). ``adopt_journalled`` records a final outcome when no attempt is left to claim.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog

from octollm.arms.base import ArmResult
from octollm.contracts.arm import ErrorInfo, ProvenanceMetadata
from octollm.contracts.event import EventType
from octollm.errors import StorageUnavailable
from octollm.orchestrator.engine import outcomes
from octollm.orchestrator.engine.outcomes import Outcome
from octollm.orchestrator.recovery import journal, lease
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims

log = structlog.get_logger(__name__)


@contextmanager
def journalled_on_outage(
    rt: Runtime,
    claim: claims.Claim,
    kind: str,
    exc: BaseException,
    *,
    dead_letter: str | None = None,
) -> Iterator[None]:
    """Keep a failure or retry decision in the journal when Postgres stayed away for the whole
    recording window (``recovery/journal.py``); the attempt then gives up as a success does."""
    try:
        yield
    except StorageUnavailable:
        error = ErrorInfo.from_exception(exc).model_dump(mode="json")
        entry = journal.failure(claim.attempt, kind, error, dead_letter)
        journal.keep(rt, claim.task_id, claim.step_id, entry)
        raise


def recorded_from_journal(
    rt: Runtime, claim: claims.Claim, *, before_attempt: int | None = None
) -> Outcome | None:
    """Record the journalled outcome of an earlier attempt, if there is one, instead of
    running the arm again (see ``recovery/journal.py``). A journalled retry is reported and
    forgotten, and None returned: this claim is that retry, so the arm runs."""
    before = claim.attempt if before_attempt is None else before_attempt
    entry = journal.pending(rt, claim.task_id, claim.step_id, before)
    if entry is None:
        return None
    if entry.kind == journal.RETRY:
        error = entry.error or {}
        rt.emit(
            EventType.STEP_RETRYING,
            claim.task_id,
            claim.tenant,
            request_id=claim.request_id,
            step_id=claim.step_id,
            attempt=entry.attempt,
            countdown=0.0,
            error=error,
        )
        journal.forget(rt, claim.task_id, claim.step_id)
        log.info(
            "journalled_retry_observed", failed_attempt=entry.attempt, error_code=error.get("code")
        )
        return None
    if entry.kind == journal.FAILED:
        error_info = ErrorInfo.model_validate(entry.error)
        outcome = outcomes.fail(
            rt, claim, claim.tenant, error_info, None, dead_letter=entry.dead_letter
        )
    else:
        provenance = ProvenanceMetadata.model_validate(entry.provenance)
        result = ArmResult(output=entry.output, confidence=entry.confidence, model=entry.model)
        outcome = outcomes.succeed(rt, claim, claim.tenant, result, provenance, None)
    if outcome.detail == "lease-lost":
        # A re-drive took the step from this claim: the entry stays for the next claim.
        log.warning("journalled_outcome_kept", finished_attempt=entry.attempt, kind=entry.kind)
        return outcome
    journal.forget(rt, claim.task_id, claim.step_id)
    log.info(
        "journalled_outcome_recorded",
        finished_attempt=entry.attempt,
        kind=entry.kind,
        outcome=outcome.kind,
    )
    return outcome


def adopt_journalled(rt: Runtime, task_id: str, step_id: str, attempts: int) -> Outcome | None:
    """Record the journalled final outcome of the step's last attempt (no attempt is left to
    claim)."""
    entry = journal.pending(rt, task_id, step_id, attempts + 1)
    if entry is None or not entry.final:
        return None
    cfg = rt.settings.orchestrator
    with rt.db.autocommit() as conn:
        claim = claims.adopt(conn, task_id, step_id, attempts, rt.owner, cfg.lease_seconds)
    if claim is None:
        return None
    with lease.held(rt, task_id, step_id, claim.attempt):
        return recorded_from_journal(rt, claim, before_attempt=claim.attempt + 1)
