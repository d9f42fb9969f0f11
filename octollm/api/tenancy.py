"""Which tenant a read acts on: the caller's own, or (``?tenant=``) another one for operators.

Every key reads its own tenant's tasks. Only an admin key whose tenant is listed in
``api.operator_tenants`` may name another tenant (or ``*``, every tenant, on lists and counts);
any other key naming a tenant not its own gets 403 and never a row of either tenant.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from octollm.api.state import ApiState
from octollm.errors import Forbidden
from octollm.security.apikeys import Principal, Scope

#: ``?tenant=`` on lists and counts: every tenant (operators only).
EVERY = "*"

TenantParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="Another tenant's tasks (admin keys of api.operator_tenants only; "
        "'*' on lists and counts: every tenant). Default: the key's own tenant.",
    ),
]


def is_operator(state: ApiState, principal: Principal) -> bool:
    """An admin key of an operator tenant: it may read across tenants."""
    return (
        Scope.ADMIN.value in principal.scopes and principal.tenant in state.config.operator_tenants
    )


def _deny() -> Forbidden:
    return Forbidden(
        "only an admin key of an operator tenant may read another tenant's tasks",
        details={"field": "query.tenant"},
    )


def task_tenant(state: ApiState, principal: Principal, tenant: str | None) -> str:
    """The tenant a read of one task acts on."""
    if tenant is None or tenant == principal.tenant:
        return principal.tenant
    if not is_operator(state, principal):
        raise _deny()
    if tenant == EVERY:
        raise Forbidden(
            "tenant=* is for lists and counts; name the task's tenant to read it",
            details={"field": "query.tenant"},
        )
    return tenant


def list_tenant(state: ApiState, principal: Principal, tenant: str | None) -> str | None:
    """The tenant a list or count acts on; None (every tenant) for an operator's ``*``."""
    if tenant == EVERY and is_operator(state, principal):
        return None
    return task_tenant(state, principal, tenant)
