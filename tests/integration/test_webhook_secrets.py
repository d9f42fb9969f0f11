"""Webhook signing secrets at rest: sealed in the table, opened only to sign, re-sealed by
``octollm webhooks rotate-key``, and plaintext rows from before migration 0007 sealed by it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from octollm.config.observability import WebhookSettings
from octollm.contracts.event import Event
from octollm.store.db import Database
from octollm.store.migrate import upgrade
from octollm.webhooks import (
    MemoryReplayStore,
    WebhookVerificationError,
    fan_out,
    register,
    verify,
)
from octollm.webhooks.delivery import deliver
from octollm.webhooks.secretbox import KEY_FILE, box, read_key_file
from octollm.webhooks.signing import new_secret
from tests.support import services
from tests.support.stack import ROOT, LiveStack, live_stack
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as s:
        yield s


def stored(db: Database) -> list[Any]:
    with db.autocommit() as conn:
        return list(
            conn.execute(
                text("SELECT id, secret, secret_scheme FROM webhook_endpoints ORDER BY id")
            ).all()
        )


def send_one(db: Database, settings: Any, receiver: WebhookReceiver, tenant: str) -> Any:
    event = Event(event_type="task.completed", task_id="task-secret", tenant=tenant)
    [delivery_id] = fan_out(db, event, max_attempts=2)
    cfg = WebhookSettings(allowlist=[receiver.host_port])
    assert deliver(db, delivery_id, cfg, sealer=box(settings)).kind == "succeeded"
    return receiver.requests[-1]


def cli(stack: LiveStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", *args],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_secret_is_sealed_at_rest_and_the_generated_key_file_is_private(
    stack: LiveStack, receiver: WebhookReceiver
) -> None:
    settings = stack.settings()
    db = Database(stack.database_url)
    secret = new_secret()
    register(db, "acme", receiver.url, ["task.completed"], secret,
             settings=settings.model_copy(update={"webhooks": WebhookSettings(
                 allowlist=[receiver.host_port])}))  # fmt: skip
    [row] = stored(db)
    assert row.secret_scheme == "fernet"
    assert secret not in row.secret
    assert secret[6:] not in row.secret
    key_file = settings.data_dir / KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    sent = send_one(db, settings, receiver, "acme")
    assert verify(secret, sent.headers, sent.body, replay_store=MemoryReplayStore())
    db.dispose()


def test_rotate_key_reseals_every_row_and_deliveries_still_verify(
    stack: LiveStack, receiver: WebhookReceiver
) -> None:
    settings = stack.settings().model_copy(
        update={"webhooks": WebhookSettings(allowlist=[receiver.host_port])}
    )
    db = Database(stack.database_url)
    secret = new_secret()
    register(db, "acme", receiver.url, ["task.completed"], secret, settings=settings)
    [before] = stored(db)
    [old_key] = read_key_file(settings.data_dir / KEY_FILE)

    done = cli(stack, "webhooks", "rotate-key")
    assert done.returncode == 0, done.stderr
    assert "re-sealed 1 endpoint secret(s)" in done.stdout
    assert secret not in done.stdout + done.stderr

    [after] = stored(db)
    [new_key] = read_key_file(settings.data_dir / KEY_FILE)
    assert new_key != old_key, "the old key is gone from the file"
    assert after.secret != before.secret
    assert after.secret_scheme == "fernet"
    # This process still holds the old key: opening the re-sealed row makes it reload the file.
    sent = send_one(db, settings, receiver, "acme")
    assert verify(secret, sent.headers, sent.body, replay_store=MemoryReplayStore())
    db.dispose()


@pytest.fixture
def database_at_0006() -> Iterator[str]:
    """A fresh database migrated only up to 0006 (before secrets were sealed)."""
    services.require_postgres()
    name = f"octollm_t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = services.database_url(name)
    try:
        upgrade(url, "0006")
        yield url
    finally:
        with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_migration_0007_seals_plaintext_secrets_written_before_it(
    database_at_0006: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octollm.config import get_settings

    db = Database(database_at_0006)
    legacy = "an-old-plaintext-secret-of-24+chars"
    with db.autocommit() as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, tenant, url, event_types, secret, "
                "description, active) VALUES ('wh-old', 'acme', 'https://hooks.example.com/', "
                "'[\"task.completed\"]', :secret, '', true)"
            ),
            {"secret": legacy},
        )
    monkeypatch.setenv("OCTOLLM_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        upgrade(database_at_0006)
        [row] = stored(db)
        assert row.secret_scheme == "fernet"
        assert legacy not in row.secret
        assert box(get_settings()).open(row.secret) == legacy
    finally:
        get_settings.cache_clear()
        db.dispose()


def test_rotate_secret_signs_with_the_old_and_the_new_secret_during_the_overlap(
    stack: LiveStack, receiver: WebhookReceiver
) -> None:
    settings = stack.settings().model_copy(
        update={"webhooks": WebhookSettings(allowlist=[receiver.host_port])}
    )
    db = Database(stack.database_url)
    old = new_secret()
    endpoint = register(db, "acme", receiver.url, ["task.completed"], old, settings=settings)
    done = cli(stack, "webhooks", "rotate-secret", endpoint.id, "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    new = done.stdout.strip().splitlines()[-1]
    assert new.startswith("whsec_")
    assert new != old
    sent = send_one(db, settings, receiver, "acme")
    signatures = {k.lower(): v for k, v in sent.headers.items()}["webhook-signature"].split()
    assert len(signatures) == 2
    assert verify(old, sent.headers, sent.body, replay_store=MemoryReplayStore())
    assert verify(new, sent.headers, sent.body, replay_store=MemoryReplayStore())
    other = cli(stack, "webhooks", "rotate-secret", endpoint.id, "--tenant", "someone-else")
    assert other.returncode == 1, "another tenant's endpoint is not found"
    db.dispose()


def test_a_captured_real_delivery_resent_with_a_new_id_is_rejected_every_time(
    stack: LiveStack, receiver: WebhookReceiver
) -> None:
    """Issue 11's attack on a real delivery: the receiver accepted it, the attacker resends it
    three times inside the window, each time with a fresh id header."""
    settings = stack.settings().model_copy(
        update={"webhooks": WebhookSettings(allowlist=[receiver.host_port])}
    )
    db = Database(stack.database_url)
    secret = new_secret()
    register(db, "acme", receiver.url, ["task.completed"], secret, settings=settings)
    captured = send_one(db, settings, receiver, "acme")
    seen = MemoryReplayStore()
    assert verify(secret, captured.headers, captured.body, replay_store=seen)
    assert Webhook(secret).verify(captured.body, captured.headers)["tenant"] == "acme"
    headers = {k.lower(): v for k, v in captured.headers.items()}
    reasons = []
    for n in range(3):
        forged = {**headers, "webhook-id": f"evt-replayed-{n}"}
        with pytest.raises(WebhookVerificationError) as refused:
            verify(secret, forged, captured.body, replay_store=seen)
        reasons.append(refused.value.reason)
    assert reasons == ["bad_signature"] * 3, "0 of 3 replays accepted"
    db.dispose()
