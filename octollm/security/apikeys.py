"""API keys: bound to one tenant and a set of scopes, stored hashed.

A key reads ``octo_<prefix>_<secret>``. The prefix (12 hex characters) is public and finds the
row; the row holds the sha256 of the whole key, compared in constant time. sha256 (not a slow
password hash) is right here: the secret is 256 random bits, so there is nothing to brute-force.

The rows live in the ``api_keys`` table (``octollm.store.api_keys`` holds the queries); this
module takes any object with a ``session()`` context manager, such as ``octollm.store.db.Database``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from octollm.errors import InvalidInput, NotFound
from octollm.store import api_keys as key_repo
from octollm.store.db import Session

_KEY_RE = re.compile(r"^octo_([0-9a-f]{12})_([A-Za-z0-9_-]{32,128})$")
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_TENANT_RE = re.compile(TENANT_PATTERN)


class Scope(StrEnum):
    TASK_SUBMIT = "task:submit"
    TASK_READ = "task:read"
    TASK_CANCEL = "task:cancel"
    ARM_LIST = "arm:list"
    ARM_REGISTER = "arm:register"
    WEBHOOK_MANAGE = "webhook:manage"
    ADMIN = "admin"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)
DEFAULT_SCOPES: tuple[str, ...] = (
    Scope.TASK_SUBMIT,
    Scope.TASK_READ,
    Scope.TASK_CANCEL,
    Scope.ARM_LIST,
)


class SessionSource(Protocol):
    def session(self) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, its tenant and what it may do."""

    key_id: str
    tenant: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return Scope.ADMIN.value in self.scopes or scope in self.scopes


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    prefix: str
    tenant: str
    scopes: tuple[str, ...]
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def parse_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    match = _KEY_RE.match(plaintext.strip())
    return match.group(1) if match else None


def new_key() -> tuple[str, str, str]:
    """``(key_id, prefix, plaintext)`` for a fresh key."""
    prefix = secrets.token_hex(6)
    return f"key_{prefix}", prefix, f"octo_{prefix}_{secrets.token_urlsafe(32)}"


def normalise_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = tuple(sorted(set(scopes)))
    unknown = [s for s in wanted if s not in ALL_SCOPES]
    if unknown or not wanted:
        raise InvalidInput(
            f"scopes must be a non-empty subset of {sorted(ALL_SCOPES)}; got {list(wanted)}",
            details={"field": "scopes"},
        )
    return wanted


def check_tenant(tenant: str) -> str:
    if not _TENANT_RE.match(tenant):
        raise InvalidInput(f"tenant must match {TENANT_PATTERN}", details={"field": "tenant"})
    return tenant


def create_key(
    db: SessionSource,
    tenant: str,
    scopes: Iterable[str] = DEFAULT_SCOPES,
    *,
    name: str | None = None,
) -> tuple[str, str]:
    """Create a key for ``tenant``; returns ``(key_id, plaintext)``. Show the plaintext once."""
    check_tenant(tenant)
    wanted = normalise_scopes(scopes)
    key_id, prefix, plaintext = new_key()
    with db.session() as session:
        key_repo.insert(
            session,
            key_id=key_id,
            prefix=prefix,
            key_hash=hash_key(plaintext),
            tenant=tenant,
            scopes=wanted,
            name=name,
        )
    return key_id, plaintext


def _info(row: Any) -> KeyInfo:
    return KeyInfo(
        key_id=row.id,
        prefix=row.prefix,
        tenant=row.tenant,
        scopes=tuple(row.scopes),
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def list_keys(
    db: SessionSource, tenant: str | None = None, *, include_revoked: bool = False
) -> list[KeyInfo]:
    """Keys (never their secrets), newest first; all tenants when ``tenant`` is None."""
    with db.session() as session:
        rows = key_repo.listing(session, tenant, include_revoked=include_revoked)
    return [_info(r) for r in rows]


def revoke_key(db: SessionSource, key_id: str, *, tenant: str | None = None) -> KeyInfo:
    """Revoke a key (idempotent); ``NotFound`` when it does not exist (in ``tenant``)."""
    with db.session() as session:
        row = key_repo.revoke(session, key_id, tenant)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    return _info(row)


def authenticate(db: SessionSource, plaintext: str) -> Principal | None:
    """The principal of a live key, or None for a malformed, unknown or revoked key."""
    prefix = parse_prefix(plaintext)
    if prefix is None:
        return None
    with db.session() as session:
        row = key_repo.live_by_prefix(session, prefix)
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(plaintext.strip())):
        return None
    return Principal(key_id=row.id, tenant=row.tenant, scopes=frozenset(row.scopes))
