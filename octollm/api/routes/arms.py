"""``GET /api/v1/arms`` (the registry with health) and ``POST /registry/arms``; both answer for
the key's tenant only (``api.catalog``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from octollm.api import catalog
from octollm.api.auth import require
from octollm.api.routes.documented import errors
from octollm.api.schemas import ArmList, ArmRegistration, ArmView
from octollm.api.state import ApiState, get_state
from octollm.security.apikeys import Principal, Scope

router = APIRouter(tags=["arms"])


@router.get("/api/v1/arms", response_model=ArmList, responses=errors(), summary="List arms")
def list_arms(
    state: Annotated[ApiState, Depends(get_state)],
    principal: Annotated[Principal, Depends(require(Scope.ARM_LIST))],
) -> ArmList:
    return ArmList(arms=catalog.arms(state, principal.tenant))


@router.post(
    "/registry/arms",
    status_code=201,
    response_model=ArmView,
    responses=errors(),
    summary="Register (or update) an arm's capabilities",
)
def register_arm(
    body: ArmRegistration,
    state: Annotated[ApiState, Depends(get_state)],
    principal: Annotated[Principal, Depends(require(Scope.ARM_REGISTER))],
) -> ArmView:
    return catalog.register(state, body, principal)
