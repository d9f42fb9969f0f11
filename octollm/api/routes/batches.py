"""``/api/v1/batches``: submit up to 100 tasks at once; read a batch's progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from octollm.api import batching, limits
from octollm.api.auth import require
from octollm.api.problems import request_id_of
from octollm.api.routes.documented import errors
from octollm.api.schemas import BatchAccepted, BatchRequest, BatchView
from octollm.api.state import ApiState, get_state
from octollm.security.apikeys import Principal, Scope

router = APIRouter(prefix="/api/v1/batches", tags=["batches"])


@router.post(
    "",
    status_code=202,
    response_model=BatchAccepted,
    responses=errors(),
    summary="Submit several tasks; each item is validated and queued on its own",
)
async def submit_batch(
    request: Request,
    body: BatchRequest,
    state: Annotated[ApiState, Depends(get_state)],
    principal: Annotated[Principal, Depends(require(Scope.TASK_SUBMIT, rate=None))],
) -> BatchAccepted:
    await run_in_threadpool(
        limits.charge, request, state.limiter, state.config, principal, "submit", len(body.tasks)
    )
    return await run_in_threadpool(
        batching.submit, state, principal, body.tasks, request_id_of(request)
    )


@router.get(
    "/{batch_id}", response_model=BatchView, responses=errors(404), summary="A batch's progress"
)
def get_batch(
    batch_id: Annotated[str, Path(min_length=1, max_length=64)],
    state: Annotated[ApiState, Depends(get_state)],
    principal: Annotated[Principal, Depends(require(Scope.TASK_READ))],
) -> BatchView:
    return batching.view(state, principal, batch_id)
