"""Arm registrations: capabilities an arm announced, upserted by (tenant, name).

A registration belongs to the tenant whose key made it and is visible only to that tenant;
``ALL_TENANTS`` (``*``) marks one every tenant sees: a pool's own registration of its built-in
arms, or an admin key's registration for all tenants. ``visible`` is the one read path for a
tenant; where a tenant and ``*`` describe the same arm, the tenant's own row wins (for it only).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from octollm.store.api_models import ArmRegistrationRow

#: The owner of a registration every tenant sees.
ALL_TENANTS = "*"


def upsert(
    session: Session,
    name: str,
    capabilities: list[str],
    *,
    tenant: str,
    description: str = "",
    version: str | None = None,
    details: dict[str, Any] | None = None,
    registered_by: str | None = None,
) -> ArmRegistrationRow:
    """Insert or update ``tenant``'s registration of ``name`` (``ALL_TENANTS``: everyone's)."""
    values = {
        "tenant": tenant,
        "name": name,
        "capabilities": capabilities,
        "description": description,
        "version": version,
        "details": details or {},
        "registered_by": registered_by,
    }
    stmt = insert(ArmRegistrationRow).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant", "name"],
        set_={
            **{k: v for k, v in values.items() if k not in ("tenant", "name")},
            "updated_at": text("now()"),
        },
    )
    session.execute(stmt)
    row = session.get(ArmRegistrationRow, (tenant, name), populate_existing=True)
    assert row is not None
    return row


def visible(session: Session, tenant: str) -> dict[str, ArmRegistrationRow]:
    """The registrations ``tenant`` sees, by arm name: its own, else everyone's."""
    rows = session.scalars(
        select(ArmRegistrationRow)
        .where(ArmRegistrationRow.tenant.in_([tenant, ALL_TENANTS]))
        .order_by(ArmRegistrationRow.name)
    )
    found: dict[str, ArmRegistrationRow] = {}
    for row in rows:
        if row.name not in found or row.tenant != ALL_TENANTS:
            found[row.name] = row
    return found


def all_registrations(session: Session) -> list[ArmRegistrationRow]:
    """Every tenant's registrations (operators' view; never an answer to a tenant)."""
    return list(
        session.scalars(
            select(ArmRegistrationRow).order_by(ArmRegistrationRow.name, ArmRegistrationRow.tenant)
        )
    )
