"""``/api/v1/tenants/{tenant}/limits``: a tenant's fair-dispatch weight, limits and usage.

Every admin key reads its own tenant's; the admin keys of ``api.operator_tenants`` read and
set any tenant's (a tenant must not raise its own limits)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from octollm.api.auth import require
from octollm.api.routes.documented import errors
from octollm.api.schemas import TenantLimitsUpdate, TenantLimitsView
from octollm.api.state import ApiState, get_state
from octollm.errors import Forbidden, NotFound
from octollm.orchestrator.fairness import tenants as tenant_views
from octollm.security.apikeys import Principal, Scope

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])

State = Annotated[ApiState, Depends(get_state)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
TenantName = Annotated[str, Path(min_length=1, max_length=64)]


def _operator(state: ApiState, principal: Principal) -> bool:
    return principal.tenant in state.config.operator_tenants


@router.get(
    "/{tenant}/limits",
    response_model=TenantLimitsView,
    responses=errors(404),
    summary="A tenant's weight, limits and usage",
)
def get_limits(tenant: TenantName, state: State, principal: Admin) -> TenantLimitsView:
    if tenant != principal.tenant and not _operator(state, principal):
        raise NotFound(f"tenant {tenant} not found")
    (view,) = tenant_views.overview(state.db, [tenant])
    return TenantLimitsView.model_validate(view.as_dict())


@router.put(
    "/{tenant}/limits",
    response_model=TenantLimitsView,
    responses=errors(),
    summary="Set a tenant's weight and limits (operator tenants only)",
)
def set_limits(
    tenant: TenantName, body: TenantLimitsUpdate, state: State, principal: Admin
) -> TenantLimitsView:
    if not _operator(state, principal):
        raise Forbidden("only an operator tenant's admin key may set tenant limits")
    view = tenant_views.set_limits(state.db, tenant, body.model_dump(exclude_unset=True))
    return TenantLimitsView.model_validate(view.as_dict())
