"""API key rows (table ``api_keys``): insert, list, revoke, and the lookup by public prefix.

Only the sha256 of a key is stored; comparing it is the caller's job
(``octollm.security.apikeys``), in constant time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_COLUMNS = "id, prefix, tenant, scopes, name, created_at, revoked_at"


def insert(
    session: Session,
    *,
    key_id: str,
    prefix: str,
    key_hash: str,
    tenant: str,
    scopes: Sequence[str],
    name: str | None,
) -> None:
    session.execute(
        text(
            "INSERT INTO api_keys (id, prefix, key_hash, tenant, scopes, name) "
            "VALUES (:id, :prefix, :hash, :tenant, CAST(:scopes AS jsonb), :name)"
        ),
        {
            "id": key_id,
            "prefix": prefix,
            "hash": key_hash,
            "tenant": tenant,
            "scopes": json.dumps(list(scopes)),
            "name": name,
        },
    )


def listing(session: Session, tenant: str | None, *, include_revoked: bool) -> Sequence[Any]:
    """Rows of ``id, prefix, tenant, scopes, name, created_at, revoked_at``, newest first;
    every tenant's when ``tenant`` is None."""
    clauses = []
    params: dict[str, Any] = {}
    if tenant is not None:
        clauses.append("tenant = :tenant")
        params["tenant"] = tenant
    if not include_revoked:
        clauses.append("revoked_at IS NULL")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return session.execute(
        text(f"SELECT {_COLUMNS} FROM api_keys {where} ORDER BY created_at DESC, id"),  # noqa: S608 - fixed clause strings, values bound
        params,
    ).all()


def revoke(session: Session, key_id: str, tenant: str | None) -> Any | None:
    """Revoke a key (idempotent: the first revocation time stays); its row, or None when it
    does not exist (in ``tenant``)."""
    tenant_clause = " AND tenant = :tenant" if tenant is not None else ""
    return session.execute(
        text(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) "  # noqa: S608
            f"WHERE id = :id{tenant_clause} RETURNING {_COLUMNS}"
        ),
        {"id": key_id, "tenant": tenant},
    ).one_or_none()


def live_by_prefix(session: Session, prefix: str) -> Any | None:
    """``id, key_hash, tenant, scopes`` of the unrevoked key with this public prefix."""
    return session.execute(
        text(
            "SELECT id, key_hash, tenant, scopes FROM api_keys "
            "WHERE prefix = :prefix AND revoked_at IS NULL"
        ),
        {"prefix": prefix},
    ).one_or_none()
