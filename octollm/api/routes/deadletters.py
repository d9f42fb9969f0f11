"""``/api/v1/dead-letters``: list and replay the steps that used up their attempts (admin,
within the caller's tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from octollm.api.auth import require
from octollm.api.queries import aware
from octollm.api.routes.documented import errors
from octollm.api.state import ApiState, get_state
from octollm.orchestrator.recovery import deadletters
from octollm.security.apikeys import Principal, Scope

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])

State = Annotated[ApiState, Depends(get_state)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
LetterId = Annotated[int, Path(ge=1, le=2**62)]


class DeadLetterView(BaseModel):
    id: int
    task_id: str
    step_id: str
    arm: str
    error: dict[str, Any]
    attempts: int
    reason: str
    created_at: datetime
    replayed_at: datetime | None = None
    replay_count: int
    replayed_by: str | None = None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterView]
    next_before_id: int | None = Field(
        default=None, description="Pass as ?before_id= for the next page; null on the last."
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str | None = Field(default=None, max_length=64)
    arm: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=32)
    limit: int = Field(default=100, ge=1, le=500)


class ReplayResult(BaseModel):
    replayed: list[DeadLetterView]
    skipped: list[dict[str, Any]]


def _view(letter: deadletters.DeadLetter) -> DeadLetterView:
    return DeadLetterView(
        **{k: v for k, v in letter.__dict__.items() if k in DeadLetterView.model_fields}
    )


@router.get("", response_model=DeadLetterPage, responses=errors(), summary="List dead letters")
def list_dead_letters(
    state: State,
    principal: Admin,
    task_id: Annotated[str | None, Query(max_length=64)] = None,
    arm: Annotated[str | None, Query(max_length=32)] = None,
    replayed: Annotated[bool | None, Query()] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeadLetterPage:
    filters = deadletters.DeadLetterFilter(
        tenant=principal.tenant,
        task_id=task_id,
        arm=arm,
        replayed=replayed,
        created_after=aware(created_after),
        before_id=before_id,
        limit=limit,
    )
    letters = deadletters.list_dead_letters(state.runtime, filters)
    nxt = letters[-1].id if len(letters) == limit else None
    return DeadLetterPage(items=[_view(d) for d in letters], next_before_id=nxt)


@router.get(
    "/{letter_id}", response_model=DeadLetterView, responses=errors(404), summary="A dead letter"
)
def get_dead_letter(letter_id: LetterId, state: State, principal: Admin) -> DeadLetterView:
    return _view(deadletters.get(state.runtime, letter_id, tenant=principal.tenant))


@router.post(
    "/{letter_id}/replay",
    status_code=202,
    response_model=DeadLetterView,
    responses=errors(404, 409),
    summary="Run a dead-lettered step again, with its dependants",
)
def replay_dead_letter(letter_id: LetterId, state: State, principal: Admin) -> DeadLetterView:
    letter = deadletters.replay(
        state.runtime, letter_id, by=principal.key_id, tenant=principal.tenant
    )
    return _view(letter)


@router.post(
    "/replay",
    status_code=202,
    response_model=ReplayResult,
    responses=errors(),
    summary="Replay every never-replayed dead letter matching the filters",
)
def replay_matching(body: ReplayRequest, state: State, principal: Admin) -> ReplayResult:
    filters = deadletters.DeadLetterFilter(
        tenant=principal.tenant,
        task_id=body.task_id,
        arm=body.arm,
        reason=body.reason,
        limit=body.limit,
    )
    report = deadletters.replay_matching(state.runtime, filters, by=principal.key_id)
    return ReplayResult(
        replayed=[_view(d) for d in report.replayed],
        skipped=[{"id": i, "reason": why} for i, why in report.skipped],
    )
