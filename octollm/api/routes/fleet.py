"""``GET /api/v1/fleet``: pools, workers, heartbeats, queue depth, throughput and the breaker
(admin: it describes the shared fleet, not one tenant's tasks)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from octollm.api import fleet
from octollm.api.auth import require
from octollm.api.routes.documented import errors
from octollm.api.state import ApiState, get_state
from octollm.security.apikeys import Scope

router = APIRouter(tags=["fleet"])


@router.get(
    "/api/v1/fleet",
    response_model=fleet.FleetView,
    responses=errors(),
    summary="The worker fleet: pools, workers, heartbeats, queue depths, throughput, breaker",
    dependencies=[Depends(require(Scope.ADMIN))],
)
async def get_fleet(state: Annotated[ApiState, Depends(get_state)]) -> fleet.FleetView:
    return await run_in_threadpool(fleet.view, state)
