"""One delivery attempt: claim the delivery, check the target, POST the signed body, record.

Outcomes: ``succeeded`` (2xx); ``retry`` (network error, timeout, 5xx, 429; the countdown is
exponential backoff with jitter, never shorter than the receiver's ``Retry-After``); ``dead``
(any other status, a redirect, a refused target, or the last attempt failed); ``noop`` (another
worker holds or finished the delivery). Every attempt is a row in ``webhook_attempts``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
import structlog

from octollm.config import get_settings
from octollm.config.observability import WebhookSettings
from octollm.store import webhooks as webhook_repo
from octollm.store.db import Database
from octollm.store.webhook_models import WebhookAttemptRow
from octollm.webhooks import secretbox
from octollm.webhooks.signing import signed_headers
from octollm.webhooks.ssrf import (
    Resolver,
    Target,
    UnsafeWebhookTarget,
    resolve_target,
    system_resolver,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    kind: Literal["succeeded", "retry", "dead", "noop"]
    countdown: float = 0.0
    status_code: int | None = None
    reason: str = ""
    attempt: int = 0


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter in [0.5, 1.5) x, never below ``retry_after``."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311
    return max(delay, retry_after or 0.0)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _request_target(target: Target, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Connect to the checked address, not to the name (no second DNS answer to trust)."""
    pinned = str(httpx.URL(url).copy_with(host=target.address.split("%")[0]))
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    extensions: dict[str, Any] = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions


def _send(
    cfg: WebhookSettings,
    url: str,
    target: Target,
    headers: dict[str, str],
    body: bytes,
    client: httpx.Client | None,
) -> httpx.Response:
    pinned, extra_headers, extensions = _request_target(target, url)
    own = client is None
    http = client or httpx.Client(
        timeout=cfg.timeout_seconds, follow_redirects=False, trust_env=False
    )
    try:
        return http.post(
            pinned,
            content=body,
            headers={**headers, **extra_headers},
            extensions=extensions,
            follow_redirects=False,
        )
    finally:
        if own:
            http.close()


def deliver(
    db: Database,
    delivery_id: int,
    cfg: WebhookSettings,
    *,
    resolver: Resolver = system_resolver,
    client: httpx.Client | None = None,
    lease_seconds: float | None = None,
    sealer: secretbox.SecretBox | None = None,
) -> Outcome:
    """Make one attempt at ``delivery_id`` and record it. The endpoint's secret is opened with
    ``sealer`` (default: the box of the process's settings) just to sign, never kept."""
    lease = lease_seconds if lease_seconds is not None else cfg.timeout_seconds + 30
    with db.session() as session:
        claimed = webhook_repo.claim(session, delivery_id, lease)
    if claimed is None:
        return Outcome("noop", reason="not-claimable")
    attempt = int(claimed.attempts)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    retryable = False
    if attempt > claimed.max_attempts:
        return _record(
            db,
            delivery_id,
            attempt,
            started,
            t0,
            "dead",
            None,
            "redelivery limit",
            None,
            "exhausted",
        )
    body = claimed.body.encode()
    try:
        target = resolve_target(
            claimed.url, cfg.allowlist, resolver=resolver, allow_http=cfg.allow_http
        )
        opener = sealer or secretbox.box(get_settings())
        keys = [opener.open(claimed.secret, claimed.secret_scheme)]
        if claimed.previous_secret is not None:  # a rotation: sign with both
            keys.append(opener.open(claimed.previous_secret))
        headers = signed_headers(
            keys, event_id=claimed.event_id, event_type=claimed.event_type, body=body
        )
        response = _send(cfg, claimed.url, target, headers, body, client)
        status_code = response.status_code
        if 200 <= status_code < 300:
            return _record(
                db, delivery_id, attempt, started, t0, "succeeded", status_code, None, None, None
            )
        retryable = status_code == 429 or status_code >= 500
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = f"HTTP {status_code}: {response.text[:200]}"
    except UnsafeWebhookTarget as exc:
        return _record(
            db, delivery_id, attempt, started, t0, "dead", None, exc.message, None, "refused"
        )
    except secretbox.SecretUnreadable as exc:
        return _record(
            db, delivery_id, attempt, started, t0, "dead", None, exc.message, None, "secret"
        )
    except httpx.HTTPError as exc:
        retryable, error = True, f"{type(exc).__name__}: {exc}"[:300]
    if not retryable:
        reason = "redirect" if status_code is not None and 300 <= status_code < 400 else "rejected"
        return _record(
            db, delivery_id, attempt, started, t0, "dead", status_code, error, None, reason
        )
    if attempt >= claimed.max_attempts:
        return _record(
            db, delivery_id, attempt, started, t0, "dead", status_code, error, None, "exhausted"
        )
    capped = min(retry_after, cfg.max_retry_after_seconds) if retry_after is not None else None
    countdown = backoff(attempt, cfg.backoff_base_seconds, cfg.backoff_max_seconds, capped)
    return _record(
        db, delivery_id, attempt, started, t0, "retry", status_code, error, countdown, None
    )


def _record(
    db: Database,
    delivery_id: int,
    attempt: int,
    started: datetime,
    t0: float,
    outcome: Literal["succeeded", "retry", "dead"],
    status_code: int | None,
    error: str | None,
    countdown: float | None,
    dead_reason: str | None,
) -> Outcome:
    duration_ms = (time.monotonic() - t0) * 1000
    status = {"succeeded": "succeeded", "retry": "retrying", "dead": "dead"}[outcome]
    with db.session() as session:
        webhook_repo.record_attempt(
            session,
            delivery_id,
            WebhookAttemptRow(
                delivery_id=delivery_id,
                attempt=attempt,
                outcome=outcome,
                status_code=status_code,
                duration_ms=round(duration_ms, 2),
                error=error,
                retry_in_seconds=countdown,
                started_at=started,
            ),
            status=status,
            dead_reason=dead_reason,
        )
    log.info(
        "webhook_attempt",
        delivery_id=delivery_id,
        attempt=attempt,
        outcome=outcome,
        status_code=status_code,
        duration_ms=round(duration_ms, 1),
        dead_reason=dead_reason,
        retry_in=round(countdown, 2) if countdown is not None else None,
    )
    return Outcome(outcome, countdown or 0.0, status_code, dead_reason or "", attempt)
