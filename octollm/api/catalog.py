"""The arm catalogue: installed arms (built-ins and plugins), registrations, and pool health.

Registrations are per tenant (``store.arm_registry``): a caller sees its own tenant's and those
made for all tenants (pools' built-in arms, an admin key's ``all_tenants`` registration), never
another tenant's."""

from __future__ import annotations

from typing import Any

import structlog

from octollm.api.schemas import ArmRegistration, ArmView
from octollm.api.state import ApiState
from octollm.arms.registry import get_arm, known_arms
from octollm.errors import Forbidden, OctoError
from octollm.orchestrator.registry.directory import ArmStatus, directory_for
from octollm.security.apikeys import Principal, Scope
from octollm.store import arm_registry
from octollm.store.api_models import ArmRegistrationRow

log = structlog.get_logger(__name__)


def _capabilities(name: str) -> list[str]:
    try:
        return sorted(get_arm(name).capabilities)
    except (OctoError, ImportError) as exc:
        log.warning("arm_not_loadable", arm=name, error=str(exc)[:200])
        return []


def arms(state: ApiState, tenant: str) -> list[ArmView]:
    installed = known_arms()
    with state.db.session() as session:
        registered = arm_registry.visible(session, tenant)
    names = sorted(installed | set(registered))
    try:
        pools = state.readiness.pools(names, state.readiness.consuming())
    except Exception as exc:  # noqa: BLE001 - health is best effort here; /ready reports it
        log.warning("arm_health_unknown", error=str(exc)[:200])
        pools = {}
    statuses = _registry_statuses(state, names)
    out = []
    for name in names:
        reg = registered.get(name)
        pool = pools.get(name)
        caps = sorted(
            set(_capabilities(name) if name in installed else [])
            | set(reg.capabilities if reg else [])
        )
        out.append(
            ArmView(
                name=name,
                installed=name in installed,
                registered=reg is not None,
                capabilities=caps,
                description=reg.description if reg else "",
                version=reg.version if reg else None,
                healthy=pool.healthy if pool else None,
                workers=pool.workers if pool else None,
                **_health_fields(statuses.get(name)),
            )
        )
    return out


def _registry_statuses(state: ApiState, names: list[str]) -> dict[str, ArmStatus]:
    try:
        directory = directory_for(state.settings)
        return directory.statuses(names) if directory else {}
    except Exception as exc:  # noqa: BLE001 - health is best effort here, like the pools'
        log.warning("arm_registry_unreadable", error=str(exc)[:200])
        return {}


def _health_fields(status: ArmStatus | None) -> dict[str, Any]:
    if status is None:
        return {}
    return {
        "health": status.health,
        "heartbeat_age_seconds": status.heartbeat_age,
        "recent_succeeded": status.succeeded,
        "recent_failed": status.failed,
    }


def register(state: ApiState, body: ArmRegistration, principal: Principal) -> ArmView:
    """Register for the caller's tenant; for every tenant only with an admin key."""
    owner = principal.tenant
    if body.all_tenants:
        if not principal.allows(Scope.ADMIN):
            raise Forbidden(
                "only an admin key may register an arm for all tenants",
                details={"field": "all_tenants"},
            )
        owner = arm_registry.ALL_TENANTS
    with state.db.session() as session:
        row: ArmRegistrationRow = arm_registry.upsert(
            session,
            body.name,
            sorted(set(body.capabilities)),
            tenant=owner,
            description=body.description,
            version=body.version,
            details=body.details,
            registered_by=principal.key_id,
        )
        return ArmView(
            name=row.name,
            installed=row.name in known_arms(),
            registered=True,
            capabilities=list(row.capabilities),
            description=row.description,
            version=row.version,
        )
