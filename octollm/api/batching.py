"""Batch submit: each item validated and submitted on its own; partial success is reported."""

from __future__ import annotations

import uuid
from collections import Counter

from pydantic import ValidationError

from octollm.api import submission
from octollm.api.problems import validation_details
from octollm.api.schemas import BatchAccepted, BatchItem, BatchView, ProblemBody, TaskSubmission
from octollm.api.state import ApiState
from octollm.contracts.status import TERMINAL_TASK_STATUSES
from octollm.errors import NotFound, OctoError, TransientError
from octollm.security.apikeys import Principal
from octollm.store import batches, task_listing

REJECTED = "rejected"


def _problem(exc: Exception, index: int) -> ProblemBody:
    if isinstance(exc, ValidationError):
        details = validation_details(exc.errors())
        for error in details["errors"]:
            error["field"] = f"tasks[{index}].{error['field']}".rstrip(".")
        first = details["errors"][0]
        return ProblemBody(
            code="VALIDATION_ERROR",
            message=f"{first['field']}: {first['message']}",
            category="validation",
            details=details,
        )
    assert isinstance(exc, OctoError)
    return ProblemBody(
        code=exc.code, message=exc.message, category=exc.category, details=dict(exc.details)
    )


def submit(
    state: ApiState, principal: Principal, items: list[dict[str, object]], request_id: str | None
) -> BatchAccepted:
    out: list[BatchItem] = []
    for index, raw in enumerate(items):
        try:
            body = TaskSubmission.model_validate(raw)
            outcome = submission.submit(state, principal, body, request_id=request_id)
        except TransientError:
            raise  # the database or broker is down: the whole request is retryable
        except (ValidationError, OctoError) as exc:
            out.append(BatchItem(index=index, status=REJECTED, error=_problem(exc, index)))
            continue
        out.append(BatchItem(index=index, status="accepted", task_id=outcome.accepted.task_id))
    batch_id = f"batch-{uuid.uuid4()}"
    records = [
        batches.Item(
            i.index, i.task_id, i.error.model_dump(mode="json") if i.error is not None else None
        )
        for i in out
    ]
    with state.db.session() as session:
        row = batches.create(session, batch_id, principal.tenant, request_id, records)
    return BatchAccepted(
        batch_id=batch_id,
        total=row.total,
        accepted=row.accepted,
        rejected=row.rejected,
        items=out,
    )


def view(state: ApiState, principal: Principal, batch_id: str) -> BatchView:
    with state.db.session() as session:
        found = batches.get(session, batch_id, principal.tenant)
        if found is None:
            raise NotFound(f"batch {batch_id} not found", details={"batch_id": batch_id})
        row, items = found
        ids = [i.task_id for i in items if i.task_id is not None]
        statuses = task_listing.statuses(session, ids, principal.tenant)
    shaped = [
        BatchItem(
            index=i.position,
            task_id=i.task_id,
            status=statuses.get(i.task_id, "unknown") if i.task_id else REJECTED,
            error=ProblemBody.model_validate(i.error) if i.error else None,
        )
        for i in items
    ]
    counts = Counter(statuses.values())
    terminal = {s.value for s in TERMINAL_TASK_STATUSES}
    return BatchView(
        batch_id=row.id,
        total=row.total,
        accepted=row.accepted,
        rejected=row.rejected,
        created_at=row.created_at,
        counts=dict(counts),
        done=all(s in terminal for s in statuses.values()),
        items=shaped,
    )
