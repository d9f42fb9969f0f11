"""Webhook endpoints and their deliveries: the functions the API and the CLI call.

``register`` checks the URL with the SSRF guard before storing it; ``fan_out`` turns one event
into one delivery per matching endpoint (idempotent per event id); ``reopen`` puts a dead
delivery back to ``pending`` (``orchestrator.webhook_messages.redeliver`` enqueues it with a
capability token). Secrets are sealed at rest (``secretbox``) and never returned.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from octollm.config import Settings, get_settings
from octollm.contracts.event import Event
from octollm.errors import InvalidInput, NotFound
from octollm.store import webhooks as webhook_repo
from octollm.store.db import Database
from octollm.store.webhook_models import WebhookDeliveryRow, WebhookEndpointRow
from octollm.webhooks import secretbox
from octollm.webhooks.signing import is_standard_secret
from octollm.webhooks.ssrf import Resolver, resolve_target, system_resolver

DELIVER_TASK = "octollm.webhook.deliver"
WEBHOOKS_QUEUE_ARM = "webhooks"
_EVENT_TYPE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))+)$")


@dataclass(frozen=True)
class Endpoint:
    id: str
    tenant: str
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    attempt: int
    outcome: str
    status_code: int | None
    duration_ms: float
    error: str | None
    retry_in_seconds: float | None
    started_at: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    max_attempts: int
    last_status_code: int | None
    last_error: str | None
    dead_reason: str | None
    redeliveries: int
    created_at: datetime
    delivered_at: datetime | None


def _endpoint(row: WebhookEndpointRow) -> Endpoint:
    return Endpoint(
        row.id,
        row.tenant,
        row.url,
        list(row.event_types),
        row.description,
        row.active,
        row.created_at,
    )


def _delivery(row: WebhookDeliveryRow) -> Delivery:
    return Delivery(
        row.id,
        row.endpoint_id,
        row.event_id,
        row.event_type,
        row.status,
        row.attempts,
        row.max_attempts,
        row.last_status_code,
        row.last_error,
        row.dead_reason,
        row.redeliveries,
        row.created_at,
        row.delivered_at,
    )


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """``*`` matches everything, ``task.*`` every ``task.`` event, else an exact match."""
    return any(
        p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
        for p in patterns
    )


def register(
    db: Database,
    tenant: str,
    url: str,
    event_types: Sequence[str],
    secret: str,
    *,
    description: str = "",
    settings: Settings | None = None,
    resolver: Resolver = system_resolver,
) -> Endpoint:
    """Store an endpoint after the SSRF guard accepted its URL (checked again at each delivery)."""
    types = sorted(set(event_types))
    if not types or any(not _EVENT_TYPE.match(t) for t in types):
        raise InvalidInput("event_types must be event types like 'task.completed', 'task.*' or '*'")
    if not is_standard_secret(secret):
        raise InvalidInput(
            "a webhook secret must be whsec_ followed by 24 to 64 bytes in base64 "
            "(Standard Webhooks); omit it to have one generated"
        )
    cfg = (settings or get_settings()).webhooks
    resolve_target(url, cfg.allowlist, resolver=resolver, allow_http=cfg.allow_http)
    row = WebhookEndpointRow(
        id=f"wh-{uuid.uuid4().hex[:16]}",
        tenant=tenant,
        url=url,
        event_types=types,
        secret=secretbox.box(settings or get_settings()).seal(secret),
        secret_scheme=secretbox.SEALED,
        description=description,
        active=True,
    )
    with db.session() as session:
        return _endpoint(webhook_repo.add_endpoint(session, row))


def list_endpoints(db: Database, tenant: str) -> list[Endpoint]:
    with db.session() as session:
        return [_endpoint(r) for r in webhook_repo.endpoints(session, tenant)]


def deactivate(db: Database, tenant: str, endpoint_id: str) -> None:
    with db.session() as session:
        if not webhook_repo.deactivate(session, tenant, endpoint_id):
            raise NotFound(f"webhook endpoint {endpoint_id} not found")


def deliveries(
    db: Database,
    tenant: str,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
    limit: int = 100,
) -> list[Delivery]:
    """The tenant's deliveries, newest first, filtered by endpoint, status and event."""
    with db.session() as session:
        rows = webhook_repo.deliveries(
            session,
            tenant,
            endpoint_id=endpoint_id,
            status=status,
            event_id=event_id,
            event_type=event_type,
            limit=limit,
        )
        return [_delivery(r) for r in rows]


def attempts(db: Database, tenant: str, delivery_id: int) -> list[Attempt]:
    with db.session() as session:
        owner = webhook_repo.delivery(session, delivery_id)
        if owner is None or owner.tenant != tenant:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        rows = webhook_repo.attempts(session, delivery_id)
        return [
            Attempt(
                r.attempt,
                r.outcome,
                r.status_code,
                r.duration_ms,
                r.error,
                r.retry_in_seconds,
                r.started_at,
            )
            for r in rows
        ]


def fan_out(db: Database, event: Event, *, max_attempts: int) -> list[int]:
    """Create the deliveries of ``event`` (once per endpoint); returns the ids still pending.

    Idempotent: an event handled twice (a reclaimed stream entry) creates nothing new, and
    returns its still-pending deliveries again so that a crash between commit and enqueue
    cannot strand them (a duplicate message finds the delivery claimed or done and exits).
    """
    body = event.model_dump_json()
    with db.session() as session:
        endpoints = webhook_repo.subscribers(session, event.tenant, event.timestamp)
        wanted = [e.id for e in endpoints if matches(e.event_types, event.event_type)]
        if not wanted:
            return []
        return webhook_repo.add_deliveries(
            session,
            wanted,
            tenant=event.tenant,
            event_id=event.event_id,
            event_type=event.event_type,
            body=body,
            max_attempts=max_attempts,
        )


def reopen(db: Database, tenant: str, delivery_id: int, *, extra_attempts: int) -> Delivery:
    """Put a dead (or delivered) delivery back to ``pending`` with ``extra_attempts`` more tries."""
    with db.session() as session:
        row = webhook_repo.reopen(session, tenant, delivery_id, extra_attempts=extra_attempts)
        return _delivery(row)


def rotate_secret(
    db: Database,
    tenant: str,
    endpoint_id: str,
    secret: str,
    *,
    overlap_seconds: float,
    settings: Settings | None = None,
) -> datetime:
    """Give an endpoint a new signing secret; deliveries carry signatures with the old and
    the new one (space-separated, as Standard Webhooks allows) until the returned time."""
    if not is_standard_secret(secret):
        raise InvalidInput("a webhook secret must be whsec_ followed by 24 to 64 bytes in base64")
    sealer = secretbox.box(settings or get_settings())
    until = datetime.now(UTC) + timedelta(seconds=overlap_seconds)
    with db.session() as session:
        row = webhook_repo.endpoint_for_update(session, endpoint_id)
        if row is None or row.tenant != tenant:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        current = sealer.open(row.secret, row.secret_scheme)
        row.previous_secret = sealer.seal(current)
        row.previous_until = until
        row.secret = sealer.seal(secret)
        row.secret_scheme = secretbox.SEALED
    return until


def reseal_all(db: Database, sealer: secretbox.SecretBox) -> int:
    """Seal every endpoint's secrets with the newest key (plain ones for the first time);
    returns how many endpoints were rewritten. One transaction: all or nothing."""
    with db.session() as session:
        rows = webhook_repo.all_endpoints_for_update(session)
        for row in rows:
            row.secret = sealer.reseal(row.secret, row.secret_scheme)
            if row.previous_secret is not None:
                row.previous_secret = sealer.reseal(row.previous_secret)
            row.secret_scheme = secretbox.SEALED
        return len(rows)
