"""``/api/v1/keys``: an admin manages its own tenant's API keys; any key may ask who it is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from octollm.api.auth import authenticated, require
from octollm.api.routes.documented import errors
from octollm.api.schemas import KeyCreate, KeyCreated, KeyList, KeyView
from octollm.api.state import ApiState, get_state
from octollm.api.tenancy import is_operator
from octollm.security import apikeys
from octollm.security.apikeys import KeyInfo, Principal, Scope

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])

State = Annotated[ApiState, Depends(get_state)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


def _view(info: KeyInfo) -> KeyView:
    return KeyView(
        key_id=info.key_id,
        prefix=info.prefix,
        tenant=info.tenant,
        scopes=list(info.scopes),
        name=info.name,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
    )


class Me(BaseModel):
    key_id: str
    tenant: str
    scopes: list[str]
    operator: bool = Field(
        description="An admin key of an operator tenant: may read any tenant's tasks (?tenant=)."
    )


@router.get("/me", response_model=Me, responses=errors(), summary="The calling key: tenant, scopes")
def whoami(state: State, principal: Annotated[Principal, Depends(authenticated)]) -> Me:
    return Me(
        key_id=principal.key_id,
        tenant=principal.tenant,
        scopes=sorted(principal.scopes),
        operator=is_operator(state, principal),
    )


@router.post(
    "", status_code=201, response_model=KeyCreated, responses=errors(), summary="Create a key"
)
def create_key(body: KeyCreate, state: State, principal: Admin) -> KeyCreated:
    key_id, plaintext = apikeys.create_key(
        state.db, principal.tenant, [s.value for s in body.scopes], name=body.name
    )
    info = next(k for k in apikeys.list_keys(state.db, principal.tenant) if k.key_id == key_id)
    return KeyCreated(**_view(info).model_dump(), api_key=plaintext)


@router.get("", response_model=KeyList, responses=errors(), summary="List this tenant's keys")
def list_keys(
    state: State,
    principal: Admin,
    include_revoked: Annotated[bool, Query()] = False,
) -> KeyList:
    infos = apikeys.list_keys(state.db, principal.tenant, include_revoked=include_revoked)
    return KeyList(keys=[_view(i) for i in infos])


@router.delete("/{key_id}", response_model=KeyView, responses=errors(404), summary="Revoke a key")
def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=32)], state: State, principal: Admin
) -> KeyView:
    return _view(apikeys.revoke_key(state.db, key_id, tenant=principal.tenant))
