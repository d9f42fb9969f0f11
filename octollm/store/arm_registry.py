"""Arm registrations: capabilities an arm announced, upserted by name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from octollm.store.api_models import ArmRegistrationRow


def upsert(
    session: Session,
    name: str,
    capabilities: list[str],
    *,
    description: str = "",
    version: str | None = None,
    details: dict[str, Any] | None = None,
    registered_by: str | None = None,
) -> ArmRegistrationRow:
    values = {
        "name": name,
        "capabilities": capabilities,
        "description": description,
        "version": version,
        "details": details or {},
        "registered_by": registered_by,
    }
    stmt = insert(ArmRegistrationRow).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={**{k: v for k, v in values.items() if k != "name"}, "updated_at": text("now()")},
    )
    session.execute(stmt)
    row = session.get(ArmRegistrationRow, name, populate_existing=True)
    assert row is not None
    return row


def all_registrations(session: Session) -> list[ArmRegistrationRow]:
    return list(session.scalars(select(ArmRegistrationRow).order_by(ArmRegistrationRow.name)))
