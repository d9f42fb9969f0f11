"""The admin commands as an operator runs them: ``octollm keys``, ``octollm webhooks``,
``octollm worker`` and ``octollm metrics`` as real subprocesses against a fresh test database,
a Redis DB, real Celery workers and a real webhook receiver on loopback (allow-listed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from octollm.config.observability import WebhookSettings
from octollm.contracts.event import Event
from octollm.security import apikeys
from octollm.store.db import Database
from octollm.webhooks import MemoryReplayStore, fan_out, verify
from octollm.webhooks.delivery import deliver
from octollm.webhooks.secretbox import box
from tests.support.stack import ROOT, LiveStack, live_stack
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

FLEET = """
[pools.orchestrator]
arms = ["orchestrator"]
pool = "threads"
concurrency = 2

[pools.echo]
arms = ["echo"]
pool = "prefork"
concurrency = 2

[pools.webhooks]
arms = ["webhooks"]
pool = "threads"
concurrency = 2
"""


@dataclass
class Operator:
    """Runs ``octollm`` as a shell would, with the stack's environment."""

    stack: LiveStack
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "octollm.cli.main", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr[-3000:])
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def start(self, name: str, *args: str, ready: str | None = "ready.") -> Path:
        """Start a long-running command; wait for ``ready`` in its log."""
        log = self.stack.tmp / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "octollm.cli.main", *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        deadline = time.monotonic() + 40
        while ready is not None and ready not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        return log

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver(status_sequence=[410], default_status=200) as r:
        yield r


@pytest.fixture
def operator(tmp_path: Path, receiver: WebhookReceiver) -> Iterator[Operator]:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET)
    with live_stack(tmp_path) as stack:
        env = stack.env()
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env["OCTOLLM_FLEET_FILE"] = str(fleet)
        env["OCTOLLM_WEBHOOKS__ALLOWLIST"] = json.dumps([receiver.host_port])
        op = Operator(stack, env)
        try:
            yield op
        finally:
            op.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_keys_are_created_once_listed_per_tenant_and_revoked(operator: Operator) -> None:
    made = operator.run(
        "keys", "create", "--tenant", "acme", "--scope", "task:read", "--scope",
        "webhook:manage", "--name", "ci",
    )  # fmt: skip
    key = made.stdout.strip()
    assert key.startswith("octo_"), made.stdout
    assert "shown once" in made.stderr
    other = operator.json("keys", "create", "--tenant", "other")
    assert other["scopes"] == sorted(apikeys.DEFAULT_SCOPES)

    db = Database(operator.stack.database_url)
    try:
        principal = apikeys.authenticate(db, key)
        assert principal is not None
        assert (principal.tenant, principal.scopes) == (
            "acme",
            frozenset({"task:read", "webhook:manage"}),
        )
        listed = operator.run("keys", "list", "--tenant", "acme", "--json").stdout
        [acme] = json.loads(listed)
        assert (acme["tenant"], acme["name"], acme["revoked_at"]) == ("acme", "ci", None)
        assert key not in listed, "a key is shown once, at creation"
        assert {k["tenant"] for k in operator.json("keys", "list")} == {"acme", "other"}

        revoked = operator.run("keys", "revoke", acme["key_id"])
        assert f"revoked {acme['key_id']}" in revoked.stdout
        assert apikeys.authenticate(db, key) is None
    finally:
        db.dispose()
    assert operator.json("keys", "list", "--tenant", "acme") == []
    [gone] = operator.json("keys", "list", "--tenant", "acme", "--all")
    assert gone["revoked_at"] is not None

    missing = operator.run("keys", "revoke", "key_000000000000", ok=False)
    assert missing.returncode == 1
    assert "not found" in " ".join(missing.stderr.split())
    bad = operator.run("keys", "create", "--tenant", "acme", "--scope", "root", ok=False)
    assert bad.returncode == 2
    assert "scopes must be" in " ".join(bad.stderr.split())


def test_webhooks_are_registered_and_a_dead_delivery_is_redelivered_by_a_worker(
    operator: Operator, receiver: WebhookReceiver
) -> None:
    refused = operator.run(
        "webhooks", "register", "http://127.0.0.1:9/hook", "--event", "task.completed", ok=False
    )
    assert refused.returncode == 2
    message = " ".join(refused.stderr.split())
    assert "resolves to 127.0.0.1, in the non-public range 127.0.0.0/8" in message

    made = operator.run(
        "webhooks", "register", receiver.url, "--tenant", "acme", "--event", "task.completed"
    )
    endpoint_id = made.stdout.split()[1]
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    [listed] = operator.json("webhooks", "list", "--tenant", "acme")
    assert (listed["id"], listed["url"], listed["event_types"]) == (
        endpoint_id,
        receiver.url,
        ["task.completed"],
    )
    assert secret not in json.dumps(listed)
    assert operator.json("webhooks", "list") == [], "the default tenant has none"

    db = Database(operator.stack.database_url)
    try:
        event = Event(event_type="task.completed", task_id="task-cli", tenant="acme")
        [delivery_id] = fan_out(db, event, max_attempts=3)
        cfg = WebhookSettings(allowlist=[receiver.host_port])
        sealer = box(operator.stack.settings())  # the CLI's key file, in the stack's data dir
        assert deliver(db, delivery_id, cfg, sealer=sealer).kind == "dead"  # 410 first
    finally:
        db.dispose()
    [dead] = operator.json("webhooks", "deliveries", "--tenant", "acme", "--status", "dead")
    assert (dead["id"], dead["dead_reason"], dead["last_status_code"]) == (
        delivery_id,
        "rejected",
        410,
    )

    operator.start("worker-webhooks", "worker", "webhooks")
    again = operator.run("webhooks", "redeliver", str(delivery_id), "--tenant", "acme")
    assert f"redelivering {delivery_id}" in again.stdout
    deadline = time.monotonic() + 30
    while not receiver.successes():
        assert time.monotonic() < deadline, "the redelivery did not arrive"
        time.sleep(0.1)
    ok = receiver.successes()[0]
    assert verify(secret, ok.headers, ok.body, replay_store=MemoryReplayStore()) == event.event_id
    while not operator.json("webhooks", "deliveries", "--tenant", "acme", "--status", "succeeded"):
        assert time.monotonic() < deadline, "the delivery was not marked succeeded"
        time.sleep(0.2)
    assert (
        operator.run("webhooks", "redeliver", "999999", "--tenant", "acme", ok=False).returncode
        == 1
    )


def test_workers_started_with_octollm_worker_write_metrics_that_octollm_metrics_serves(
    operator: Operator, tmp_path: Path
) -> None:
    prom = Path(operator.env["OCTOLLM_DATA_DIR"]) / "prometheus"
    prom.mkdir(parents=True)
    stale = prom / "counter_999999999.db"
    stale.write_bytes(b"")
    operator.start("worker-orchestrator", "worker", "orchestrator")
    operator.start("worker-echo", "worker", "echo")
    assert not stale.exists(), "files of processes that are gone are cleared before start"

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"steps": [{"step_id": "hi", "arm": "echo", "action": "greet"}]}))
    task_id = operator.run("submit", "--plan", str(plan)).stdout.strip()
    deadline = time.monotonic() + 30
    while (record := operator.json("status", task_id))["status"] != "completed":
        assert time.monotonic() < deadline, record
        time.sleep(0.3)
    assert list(prom.glob("*.db")), "the workers write prometheus multiprocess files"

    port = free_port()
    operator.start("metrics", "metrics", "--port", str(port), ready="serving http://")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    prefix = operator.stack.prefix
    depth = f'octollm_queue_depth{{arm="echo",queue="{prefix}.echo.critical",urgency="critical"}}'
    assert f"{depth} 0.0" in text, text[-3000:]
    assert 'octollm_steps_total{arm="echo",status="succeeded"} 1.0' in text, text[-3000:]
    assert 'octollm_tasks_total{status="completed"}' in text


def test_tenant_limits_are_set_and_shown(operator: Operator) -> None:
    view = operator.json("tenants", "set", "acme", "--weight", "3", "--max-running", "4")
    assert view["weight"] == 3.0
    assert view["max_running"] == 4
    assert view["usage"]["running_steps"] == 0
    cleared = operator.json("tenants", "set", "acme", "--clear", "max_running")
    assert cleared["max_running"] is None
    assert cleared["weight"] == 3.0
    (shown,) = operator.json("tenants", "show", "acme")
    assert shown == cleared
    bad = operator.run("tenants", "set", "acme", "--clear", "nonsense", ok=False)
    assert bad.returncode == 2
    assert "unknown tenant limit" in bad.stderr
    table = operator.run("tenants", "show").stdout
    assert "acme" in table
