"""Webhook endpoints, deliveries and attempts: every query the webhook adapter makes.

Deliveries are idempotent per (endpoint, event): fanning an event out twice inserts nothing
new. A delivery is claimed with a lease (one statement) before each attempt, so two workers
never send the same delivery at once; every attempt is recorded as its own row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from octollm.errors import Conflict, NotFound
from octollm.store.webhook_models import WebhookAttemptRow, WebhookDeliveryRow, WebhookEndpointRow

# -- endpoints ---------------------------------------------------------------------------------


def add_endpoint(session: Session, row: WebhookEndpointRow) -> WebhookEndpointRow:
    """Insert an endpoint and read back its server-side defaults (``created_at``)."""
    session.add(row)
    session.flush()
    session.refresh(row)
    return row


def endpoints(session: Session, tenant: str) -> list[WebhookEndpointRow]:
    """The tenant's endpoints, oldest first."""
    return list(
        session.scalars(
            select(WebhookEndpointRow)
            .where(WebhookEndpointRow.tenant == tenant)
            .order_by(WebhookEndpointRow.created_at)
        ).all()
    )


def deactivate(session: Session, tenant: str, endpoint_id: str) -> bool:
    """Stop matching events for one endpoint; False when the tenant has no such endpoint."""
    done = session.execute(
        update(WebhookEndpointRow)
        .where((WebhookEndpointRow.id == endpoint_id) & (WebhookEndpointRow.tenant == tenant))
        .values(active=False)
    )
    return bool(getattr(done, "rowcount", 0))


def endpoint_for_update(session: Session, endpoint_id: str) -> WebhookEndpointRow | None:
    """One endpoint, locked until the transaction ends (its secret is being rotated)."""
    return session.get(WebhookEndpointRow, endpoint_id, with_for_update=True)


def all_endpoints_for_update(session: Session) -> list[WebhookEndpointRow]:
    """Every endpoint, locked in id order (a reseal rewrites all of them at once)."""
    return list(
        session.scalars(
            select(WebhookEndpointRow).order_by(WebhookEndpointRow.id).with_for_update()
        ).all()
    )


def subscribers(session: Session, tenant: str, at: datetime) -> list[WebhookEndpointRow]:
    """The tenant's active endpoints that existed at ``at`` (an event's time)."""
    return list(
        session.scalars(
            select(WebhookEndpointRow).where(
                (WebhookEndpointRow.tenant == tenant)
                & WebhookEndpointRow.active
                & (WebhookEndpointRow.created_at <= at)
            )
        ).all()
    )


# -- deliveries --------------------------------------------------------------------------------


def add_deliveries(
    session: Session,
    endpoint_ids: Sequence[str],
    *,
    tenant: str,
    event_id: str,
    event_type: str,
    body: str,
    max_attempts: int,
) -> list[int]:
    """One pending delivery of the event per endpoint (existing ones are kept); returns the
    ids of the event's deliveries still pending."""
    session.execute(
        insert(WebhookDeliveryRow)
        .values(
            [
                {
                    "endpoint_id": endpoint_id,
                    "tenant": tenant,
                    "event_id": event_id,
                    "event_type": event_type,
                    "body": body,
                    "status": "pending",
                    "max_attempts": max_attempts,
                }
                for endpoint_id in endpoint_ids
            ]
        )
        .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
    )
    return list(
        session.scalars(
            select(WebhookDeliveryRow.id).where(
                (WebhookDeliveryRow.event_id == event_id) & (WebhookDeliveryRow.status == "pending")
            )
        ).all()
    )


def deliveries(
    session: Session,
    tenant: str,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
    limit: int = 100,
) -> list[WebhookDeliveryRow]:
    """The tenant's deliveries, newest first, filtered by endpoint, status and event."""
    query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.tenant == tenant)
    if endpoint_id is not None:
        query = query.where(WebhookDeliveryRow.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDeliveryRow.status == status)
    if event_id is not None:
        query = query.where(WebhookDeliveryRow.event_id == event_id)
    if event_type is not None:
        query = query.where(WebhookDeliveryRow.event_type == event_type)
    return list(
        session.scalars(query.order_by(WebhookDeliveryRow.id.desc()).limit(min(limit, 1000))).all()
    )


def delivery(session: Session, delivery_id: int) -> WebhookDeliveryRow | None:
    return session.get(WebhookDeliveryRow, delivery_id)


def attempts(session: Session, delivery_id: int) -> list[WebhookAttemptRow]:
    """A delivery's attempts in the order they were made."""
    return list(
        session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id == delivery_id)
            .order_by(WebhookAttemptRow.id)
        ).all()
    )


def reopen(
    session: Session, tenant: str, delivery_id: int, *, extra_attempts: int
) -> WebhookDeliveryRow:
    """Put a dead (or delivered) delivery back to ``pending`` with ``extra_attempts`` more
    tries and one more redelivery (the generation of its next token). Raises ``NotFound``
    (unknown, or another tenant's) and ``Conflict`` (the delivery is still in flight)."""
    row = session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
    if row is None or row.tenant != tenant:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    if row.status not in ("dead", "succeeded"):
        raise Conflict(
            f"delivery {delivery_id} is {row.status}; only dead or delivered ones "
            "can be redelivered"
        )
    row.status = "pending"
    row.max_attempts = row.attempts + extra_attempts
    row.dead_reason = None
    row.lease_until = None
    row.redeliveries += 1
    row.updated_at = session.execute(text("SELECT now()")).scalar_one()
    session.flush()
    return row


_TOKEN_FACTS = text(
    """
    SELECT tenant, status, redeliveries, left(body::jsonb ->> 'task_id', 64) AS task_id
      FROM webhook_deliveries WHERE id = :id
    """
)


def token_facts(conn: Session | Connection, delivery_id: int) -> Any | None:
    """``tenant``, ``status``, ``redeliveries`` and the event's ``task_id`` of a delivery (what
    its capability token is checked against), None when there is no such delivery."""
    return conn.execute(_TOKEN_FACTS, {"id": int(delivery_id)}).one_or_none()


# -- attempts ----------------------------------------------------------------------------------

_CLAIM = text("""
UPDATE webhook_deliveries AS d
   SET status = 'sending', attempts = d.attempts + 1, updated_at = now(),
       lease_until = now() + make_interval(secs => :lease)
  FROM webhook_endpoints AS e
 WHERE d.id = :id AND e.id = d.endpoint_id
   AND (d.status IN ('pending', 'retrying') OR (d.status = 'sending' AND d.lease_until < now()))
RETURNING d.attempts, d.max_attempts, d.body, d.event_id, d.event_type, d.tenant, e.url, e.secret,
          e.secret_scheme,
          CASE WHEN e.previous_until > now() THEN e.previous_secret END AS previous_secret
""")


def claim(session: Session, delivery_id: int, lease: float) -> Any | None:
    """Take a pending, retrying or abandoned delivery for one attempt (one statement; counts
    the attempt); returns what the attempt needs, None when another worker holds or finished it."""
    return session.execute(_CLAIM, {"id": delivery_id, "lease": lease}).one_or_none()


def record_attempt(
    session: Session,
    delivery_id: int,
    attempt: WebhookAttemptRow,
    *,
    status: str,
    dead_reason: str | None,
) -> None:
    """Store one attempt and move its delivery to ``status`` (releasing its lease)."""
    session.add(attempt)
    row = session.get(WebhookDeliveryRow, delivery_id)
    assert row is not None
    row.status, row.last_status_code, row.last_error = status, attempt.status_code, attempt.error
    row.dead_reason, row.lease_until = dead_reason, None
    if attempt.outcome == "succeeded":
        row.delivered_at = datetime.now(UTC)
