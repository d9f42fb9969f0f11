"""``/api/v1/tasks``: submit, read, list, cancel, resume, steps, result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from octollm.api import queries, submission
from octollm.api.auth import require
from octollm.api.problems import request_id_of
from octollm.api.routes.documented import errors
from octollm.api.schemas import (
    StepList,
    TaskAccepted,
    TaskCounts,
    TaskPage,
    TaskResultView,
    TaskSubmission,
    TaskView,
)
from octollm.api.state import ApiState, get_state
from octollm.api.tenancy import TenantParam, list_tenant, task_tenant
from octollm.contracts.status import Priority, TaskStatus
from octollm.orchestrator.engine import lifecycle
from octollm.security.apikeys import Principal, Scope
from octollm.store.task_listing import TaskFilter

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

State = Annotated[ApiState, Depends(get_state)]
TaskId = Annotated[str, Path(min_length=1, max_length=64)]
Reader = Annotated[Principal, Depends(require(Scope.TASK_READ))]
Canceller = Annotated[Principal, Depends(require(Scope.TASK_CANCEL))]
Submitter = Annotated[Principal, Depends(require(Scope.TASK_SUBMIT, rate="submit"))]
Arm = Annotated[str | None, Query(max_length=32, description="Only tasks with a step on this arm.")]
Search = Annotated[
    str | None,
    Query(min_length=1, max_length=200, description="A task id, or words of its goal."),
]


@router.post(
    "",
    status_code=202,
    response_model=TaskAccepted,
    responses={
        200: {"model": TaskAccepted, "description": "Answered by a completed identical task"},
        **errors(409),
    },
    summary="Submit a task (a goal to plan, or an explicit plan)",
)
def submit_task(
    request: Request,
    response: Response,
    body: TaskSubmission,
    state: State,
    principal: Submitter,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="Repeat within 24 h: the same task; with a different body: 409.",
        ),
    ] = None,
    cache_control: Annotated[
        str | None, Header(description="no-cache skips the result cache.")
    ] = None,
) -> TaskAccepted:
    outcome = submission.submit(
        state,
        principal,
        body,
        request_id=request_id_of(request),
        idempotency_key=idempotency_key,
        use_cache="no-cache" not in (cache_control or "").lower(),
    )
    response.status_code = 200 if outcome.accepted.cache_hit else 202
    response.headers["Location"] = outcome.accepted.links.self
    return outcome.accepted


@router.get(
    "",
    response_model=TaskPage,
    responses=errors(),
    summary="List this tenant's tasks (operator admins: any tenant's, ?tenant=)",
)
def list_tasks(
    state: State,
    principal: Reader,
    status: Annotated[list[TaskStatus] | None, Query()] = None,
    priority: Annotated[list[Priority] | None, Query()] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
    arm: Arm = None,
    q: Search = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    tenant: TenantParam = None,
) -> TaskPage:
    where = TaskFilter(
        tenant=list_tenant(state, principal, tenant),
        statuses=tuple(s.value for s in status or ()),
        priorities=tuple(p.value for p in priority or ()),
        created_after=queries.aware(created_after),
        created_before=queries.aware(created_before),
        arm=arm,
        search=q,
    )
    return queries.page(state.db, where, limit, cursor)


@router.get(
    "/counts",
    response_model=TaskCounts,
    responses=errors(),
    summary="How many of this tenant's tasks are in each status",
)
def count_tasks(
    state: State,
    principal: Reader,
    priority: Annotated[list[Priority] | None, Query()] = None,
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
    arm: Arm = None,
    q: Search = None,
    tenant: TenantParam = None,
) -> TaskCounts:
    where = TaskFilter(
        tenant=list_tenant(state, principal, tenant),
        priorities=tuple(p.value for p in priority or ()),
        created_after=queries.aware(created_after),
        created_before=queries.aware(created_before),
        arm=arm,
        search=q,
    )
    return queries.counts(state.db, where)


@router.get("/{task_id}", response_model=TaskView, responses=errors(404), summary="Get a task")
def get_task(
    task_id: TaskId, state: State, principal: Reader, tenant: TenantParam = None
) -> TaskView:
    return queries.task(state.db, task_tenant(state, principal, tenant), task_id)


@router.get(
    "/{task_id}/result",
    response_model=TaskResultView,
    responses=errors(404),
    summary="A task's answer, artefacts, citations, verdict and rounds",
)
def get_result(
    task_id: TaskId, state: State, principal: Reader, tenant: TenantParam = None
) -> TaskResultView:
    view = queries.task(state.db, task_tenant(state, principal, tenant), task_id)
    result = view.result or {}
    return TaskResultView(
        task_id=view.task_id,
        status=view.status,
        answer=result.get("answer"),
        artefacts=result.get("artefacts") or {},
        citations=result.get("citations") or [],
        verdict=result.get("verdict"),
        rounds=result.get("rounds") or [],
        replans=result.get("replans") or [],
        error=view.error,
    )


def _cancel(state: ApiState, principal: Principal, task_id: str) -> TaskView:
    lifecycle.cancel(state.runtime, task_id, tenant=principal.tenant)
    return queries.task(state.db, principal.tenant, task_id)


@router.delete(
    "/{task_id}", response_model=TaskView, responses=errors(404, 409), summary="Cancel a task"
)
def delete_task(task_id: TaskId, state: State, principal: Canceller) -> TaskView:
    return _cancel(state, principal, task_id)


@router.post(
    "/{task_id}/cancel",
    response_model=TaskView,
    responses=errors(404, 409),
    summary="Cancel a task (409 when it already finished)",
)
def cancel_task(task_id: TaskId, state: State, principal: Canceller) -> TaskView:
    return _cancel(state, principal, task_id)


@router.post(
    "/{task_id}/resume",
    status_code=202,
    response_model=TaskView,
    responses=errors(404, 409),
    summary="Resume a failed or cancelled task from its unfinished steps",
)
def resume_task(task_id: TaskId, state: State, principal: Submitter) -> TaskView:
    lifecycle.resume(state.runtime, task_id, tenant=principal.tenant)
    return queries.task(state.db, principal.tenant, task_id)


@router.get(
    "/{task_id}/steps", response_model=StepList, responses=errors(404), summary="A task's steps"
)
def task_steps(
    task_id: TaskId, state: State, principal: Reader, tenant: TenantParam = None
) -> StepList:
    return queries.steps(state.db, task_tenant(state, principal, tenant), task_id)
