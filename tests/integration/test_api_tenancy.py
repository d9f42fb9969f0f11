"""Tenant isolation: tenant A cannot see or touch tenant B's tasks through any route.

Each test submits a task as B and checks that A's request fails with the same 404 a task
that does not exist gets (never a 403, which would leak existence), and that B still can.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import connect

from tests.support.apiserver import api_server, api_stack, headers, inproc_client, make_key
from tests.support.stack import LiveStack

__all__ = ["api_stack"]


@dataclass
class Two:
    client: TestClient
    a: str
    b: str
    task_b: str


@pytest.fixture
def two(api_stack: LiveStack) -> Iterator[Two]:
    a, b = make_key(api_stack, "tenant-a"), make_key(api_stack, "tenant-b")
    with inproc_client(api_stack) as client:
        resp = client.post(
            "/api/v1/tasks", json={"goal": "tenant b's private task"}, headers=headers(b)
        )
        assert resp.status_code == 202
        yield Two(client, a, b, resp.json()["task_id"])


def _is_not_found(resp: Any) -> None:
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["code"] == "NOT_FOUND"


def test_tenant_a_cannot_read_tenant_bs_task(two: Two) -> None:
    _is_not_found(two.client.get(f"/api/v1/tasks/{two.task_b}", headers=headers(two.a)))
    assert two.client.get(f"/api/v1/tasks/{two.task_b}", headers=headers(two.b)).status_code == 200


def test_tenant_a_cannot_read_tenant_bs_steps(two: Two) -> None:
    _is_not_found(two.client.get(f"/api/v1/tasks/{two.task_b}/steps", headers=headers(two.a)))


def test_tenant_a_does_not_see_tenant_bs_task_in_its_list(two: Two) -> None:
    mine = two.client.get("/api/v1/tasks", headers=headers(two.a)).json()
    theirs = two.client.get("/api/v1/tasks", headers=headers(two.b)).json()
    assert mine["items"] == []
    assert [t["task_id"] for t in theirs["items"]] == [two.task_b]


def test_tenant_a_cannot_cancel_tenant_bs_task(two: Two) -> None:
    _is_not_found(two.client.post(f"/api/v1/tasks/{two.task_b}/cancel", headers=headers(two.a)))
    _is_not_found(two.client.delete(f"/api/v1/tasks/{two.task_b}", headers=headers(two.a)))
    still = two.client.get(f"/api/v1/tasks/{two.task_b}", headers=headers(two.b)).json()
    assert still["status"] != "cancelled"


def test_tenant_a_cannot_resume_tenant_bs_task(two: Two) -> None:
    assert (
        two.client.post(f"/api/v1/tasks/{two.task_b}/cancel", headers=headers(two.b)).status_code
        == 200
    )
    _is_not_found(two.client.post(f"/api/v1/tasks/{two.task_b}/resume", headers=headers(two.a)))
    still = two.client.get(f"/api/v1/tasks/{two.task_b}", headers=headers(two.b)).json()
    assert still["status"] == "cancelled"


def test_tenant_a_cannot_stream_tenant_bs_task_over_sse(two: Two) -> None:
    for path in (f"/api/v1/tasks/{two.task_b}/events", f"/stream/tasks/{two.task_b}"):
        _is_not_found(two.client.get(path, headers=headers(two.a)))


def test_tenant_a_cannot_subscribe_to_tenant_bs_task_over_websocket(
    api_stack: LiveStack,
) -> None:
    a, b = make_key(api_stack, "tenant-a"), make_key(api_stack, "tenant-b")
    with api_server(api_stack) as api:
        task_b = httpx.post(
            f"{api.url}/api/v1/tasks", json={"goal": "tenant b's private task"}, headers=headers(b)
        ).json()["task_id"]
        with connect(f"{api.ws_url}/ws/a-client?api_key={a}") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
            ws.send(json.dumps({"type": "subscribe", "task_id": task_b}))
            reply = json.loads(ws.recv(timeout=5))
        with connect(f"{api.ws_url}/ws/b-client?api_key={b}") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
            ws.send(json.dumps({"type": "subscribe", "task_id": task_b}))
            allowed = json.loads(ws.recv(timeout=5))
    assert reply["type"] == "error"
    assert reply["code"] == "NOT_FOUND"
    assert allowed == {"type": "subscribed", "task_id": task_b}


def test_tenant_a_cannot_read_tenant_bs_batch(two: Two) -> None:
    batch = two.client.post(
        "/api/v1/batches",
        json={"tasks": [{"goal": "a batch item of tenant b"}]},
        headers=headers(two.b),
    ).json()
    _is_not_found(two.client.get(f"/api/v1/batches/{batch['batch_id']}", headers=headers(two.a)))


def test_the_same_idempotency_key_in_two_tenants_makes_two_tasks(two: Two) -> None:
    body = {"goal": "the same key in two tenants"}
    ids = [
        two.client.post(
            "/api/v1/tasks", json=body, headers=headers(k, **{"Idempotency-Key": "shared"})
        ).json()["task_id"]
        for k in (two.a, two.b)
    ]
    assert ids[0] != ids[1]


def test_tenant_a_cannot_see_or_revoke_tenant_bs_keys(api_stack: LiveStack) -> None:
    admin_a = make_key(api_stack, "tenant-a", ["admin"])
    admin_b = make_key(api_stack, "tenant-b", ["admin"])
    with inproc_client(api_stack) as client:
        keys_b = client.get("/api/v1/keys", headers=headers(admin_b)).json()["keys"]
        listed_a = client.get("/api/v1/keys", headers=headers(admin_a)).json()["keys"]
        revoke = client.delete(f"/api/v1/keys/{keys_b[0]['key_id']}", headers=headers(admin_a))
    assert {k["tenant"] for k in listed_a} == {"tenant-a"}
    assert revoke.status_code == 404
