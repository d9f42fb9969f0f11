"""``/api/v1/webhooks`` against real Postgres and Redis: registration behind the SSRF guard,
secrets shown once, tenant isolation on every route, and a dead delivery redelivered by a real
webhooks worker to a real receiver on loopback (allow-listed, as an in-cluster service would be).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from octollm.api.app import create_app
from octollm.config.observability import WebhookSettings
from octollm.contracts.event import Event
from octollm.store.db import Database
from octollm.webhooks import MemoryReplayStore, fan_out, verify
from octollm.webhooks.delivery import deliver
from octollm.webhooks.secretbox import box
from tests.support.apiserver import api_settings, headers, make_key
from tests.support.stack import LiveStack, live_stack
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver


@pytest.fixture
def api_stack(tmp_path: Path) -> Iterator[LiveStack]:
    """A stack on this run's Redis DB (``TEST_REDIS_DB``; else one per test process)."""
    with live_stack(tmp_path) as s:
        yield s


BASE = "/api/v1/webhooks"
SECRET = "whsec_b2N0b2xsbS10ZXN0LXdlYmhvb2stc2VjcmV0LTAxMjM="  # Standard Webhooks: whsec_<base64>


@dataclass
class Setup:
    stack: LiveStack
    client: TestClient
    receiver: WebhookReceiver
    a: str
    b: str

    def register(self, key: str, **body: Any) -> Any:
        body = {"url": self.receiver.url, "event_types": ["task.completed"], **body}
        return self.client.post(BASE, json=body, headers=headers(key))


@pytest.fixture
def setup(api_stack: LiveStack) -> Iterator[Setup]:
    """Tenants a and b, each with a ``webhook:manage`` key; a receiver that refuses the first
    delivery with a 410 (no retry: the delivery dies at once) and accepts the rest."""
    with webhook_receiver(status_sequence=[410], default_status=200) as receiver:
        allow = json.dumps([receiver.host_port])
        api_stack.extra_env["OCTOLLM_WEBHOOKS__ALLOWLIST"] = allow
        settings = api_stack.settings().model_copy(
            update={"webhooks": WebhookSettings(allowlist=[receiver.host_port])}
        )
        a = make_key(api_stack, "tenant-a", ["webhook:manage"])
        b = make_key(api_stack, "tenant-b", ["webhook:manage"])
        with TestClient(create_app(settings, api_settings()), raise_server_exceptions=False) as c:
            yield Setup(api_stack, c, receiver, a, b)


def dead_delivery(setup: Setup, endpoint_id: str) -> int:
    """Tenant b's endpoint is sent one task.completed event, which the receiver refuses (410)."""
    db = Database(setup.stack.database_url)
    try:
        event = Event(event_type="task.completed", task_id="task-webhook-test", tenant="tenant-b")
        [delivery_id] = fan_out(db, event, max_attempts=3)
        cfg = WebhookSettings(allowlist=[setup.receiver.host_port])
        sealer = box(setup.stack.settings())  # the API's key file, in the stack's data dir
        assert deliver(db, delivery_id, cfg, sealer=sealer).kind == "dead"
        return delivery_id
    finally:
        db.dispose()


def _is_not_found(resp: Any) -> None:
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["code"] == "NOT_FOUND"


def test_a_generated_secret_is_shown_once_and_never_listed(setup: Setup) -> None:
    created = setup.register(setup.b, event_types=["task.*", "task.completed"])
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["task.*", "task.completed"]
    assert body["active"] is True
    own = setup.register(setup.b, secret=SECRET)
    assert own.status_code == 201
    assert own.json()["secret"] is None, "a secret the caller chose is not echoed"

    listed = setup.client.get(BASE, headers=headers(setup.b))
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["endpoints"]] == [body["id"], own.json()["id"]]
    assert body["secret"] not in listed.text
    assert SECRET not in listed.text
    assert all("secret" not in e for e in listed.json()["endpoints"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://100.64.0.1/hook",
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://[::1]/hook",
        "http://[64:ff9b::a00:1]/hook",
        "http://0x7f.1/hook",
    ],
)
def test_a_target_the_ssrf_guard_refuses_is_a_clear_422_and_nothing_is_stored(
    setup: Setup, url: str
) -> None:
    refused = setup.register(setup.a, url=url)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "WEBHOOK_TARGET_REFUSED"
    assert error["message"]
    assert refused.json()["request_id"]
    assert setup.client.get(BASE, headers=headers(setup.a)).json()["endpoints"] == []


def test_tenant_a_cannot_see_or_touch_tenant_bs_endpoints_and_deliveries(setup: Setup) -> None:
    endpoint = setup.register(setup.b, secret=SECRET).json()
    delivery_id = dead_delivery(setup, endpoint["id"])
    a, b = headers(setup.a), headers(setup.b)

    assert setup.client.get(BASE, headers=a).json()["endpoints"] == []
    assert setup.client.get(f"{BASE}/deliveries", headers=a).json()["items"] == []
    filtered = setup.client.get(
        f"{BASE}/deliveries", params={"endpoint_id": endpoint["id"]}, headers=a
    )
    assert filtered.json()["items"] == []
    _is_not_found(setup.client.get(f"{BASE}/deliveries/{delivery_id}/attempts", headers=a))
    _is_not_found(setup.client.post(f"{BASE}/deliveries/{delivery_id}/redeliver", headers=a))
    _is_not_found(setup.client.delete(f"{BASE}/{endpoint['id']}", headers=a))

    [theirs] = setup.client.get(f"{BASE}/deliveries", headers=b).json()["items"]
    assert (theirs["id"], theirs["status"]) == (delivery_id, "dead")
    assert setup.client.get(BASE, headers=b).json()["endpoints"][0]["active"] is True


def test_webhook_routes_need_the_webhook_manage_scope_which_admin_implies(setup: Setup) -> None:
    reader = make_key(setup.stack, "tenant-a", ["task:read", "task:submit"])
    admin = make_key(setup.stack, "tenant-a", ["admin"])
    denied = setup.client.get(BASE, headers=headers(reader))
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"required_scope": "webhook:manage"}
    assert setup.register(reader).status_code == 403
    assert setup.register(admin).status_code == 201
    assert len(setup.client.get(BASE, headers=headers(admin)).json()["endpoints"]) == 1


def test_a_dead_delivery_is_redelivered_through_the_api_by_a_real_worker(setup: Setup) -> None:
    endpoint = setup.register(setup.b, secret=SECRET).json()
    delivery_id = dead_delivery(setup, endpoint["id"])
    b = headers(setup.b)
    [dead] = setup.client.get(
        f"{BASE}/deliveries", params={"status": "dead", "event_type": "task.completed"}, headers=b
    ).json()["items"]
    assert (dead["id"], dead["dead_reason"], dead["last_status_code"]) == (
        delivery_id,
        "rejected",
        410,
    )
    assert (
        setup.client.get(
            f"{BASE}/deliveries", params={"event_type": "task.failed"}, headers=b
        ).json()["items"]
        == []
    )

    setup.stack.start_worker(["webhooks"], concurrency=2)
    again = setup.client.post(f"{BASE}/deliveries/{delivery_id}/redeliver", headers=b)
    assert again.status_code == 202, again.text
    assert (again.json()["status"], again.json()["redeliveries"]) == ("pending", 1)

    deadline = time.monotonic() + 30
    while not setup.receiver.successes():
        assert time.monotonic() < deadline, "the redelivery did not arrive"
        time.sleep(0.1)
    while True:
        log = setup.client.get(f"{BASE}/deliveries/{delivery_id}/attempts", headers=b).json()
        if len(log["attempts"]) == 2:
            break
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert [(x["attempt"], x["outcome"], x["status_code"]) for x in log["attempts"]] == [
        (1, "dead", 410),
        (2, "succeeded", 200),
    ]
    [done] = setup.client.get(f"{BASE}/deliveries", headers=b).json()["items"]
    assert (done["status"], done["attempts"]) == ("succeeded", 2)


def test_a_tenant_rotates_its_endpoint_secret_and_deliveries_carry_both_signatures(
    setup: Setup,
) -> None:
    endpoint = setup.register(setup.b, secret=SECRET).json()
    b = headers(setup.b)
    url = f"{BASE}/{endpoint['id']}/rotate-secret"
    _is_not_found(setup.client.post(url, json={}, headers=headers(setup.a)))
    assert (
        setup.client.post(url, json={"secret": "not-a-whsec-secret!!"}, headers=b).status_code
        == 422
    )
    rotated = setup.client.post(url, json={"overlap_seconds": 600}, headers=b)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != SECRET

    db = Database(setup.stack.database_url)
    try:
        event = Event(event_type="task.completed", task_id="task-rotated", tenant="tenant-b")
        [delivery_id] = fan_out(db, event, max_attempts=3)
        cfg = WebhookSettings(allowlist=[setup.receiver.host_port])
        sealer = box(setup.stack.settings())
        deliver(db, delivery_id, cfg, sealer=sealer)  # the receiver refuses the first (410)
        assert deliver(db, delivery_id, cfg, sealer=sealer).kind == "noop"  # dead: nothing more
    finally:
        db.dispose()
    sent = setup.receiver.requests[-1]
    signatures = {k.lower(): v for k, v in sent.headers.items()}["webhook-signature"].split()
    assert len(signatures) == 2
    assert verify(SECRET, sent.headers, sent.body, replay_store=MemoryReplayStore())
    assert verify(new, sent.headers, sent.body, replay_store=MemoryReplayStore())
