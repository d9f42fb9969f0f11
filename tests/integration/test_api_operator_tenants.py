"""Reading across tenants, written as an attacker: only an admin key of an operator tenant
(``api.operator_tenants``) may pass ``?tenant=`` another tenant on the task routes; every other
key, admin or not, gets 403 and sees nothing of the other tenant's tasks, and never its own
tenant's data in their place."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.support.apiserver import api_stack, headers, inproc_client, make_key
from tests.support.stack import LiveStack

__all__ = ["api_stack"]

PLAN = {"steps": [{"step_id": "s", "arm": "echo", "action": "private work"}]}


@dataclass
class Setup:
    client: TestClient
    a_task: str
    b_task: str
    keys: dict[str, str]


@pytest.fixture
def s(api_stack: LiveStack) -> Iterator[Setup]:
    keys = {
        "a": make_key(api_stack, "op-a"),
        "b_plain": make_key(api_stack, "op-b"),
        "b_admin": make_key(api_stack, "op-b", ["admin"]),
        "ops_admin": make_key(api_stack, "op-ops", ["admin"]),
        "ops_reader": make_key(api_stack, "op-ops", ["task:read"]),
    }
    with inproc_client(api_stack, operator_tenants=["op-ops"]) as client:
        ids = []
        for key, goal in ((keys["a"], "tenant a's secret plan"), (keys["b_plain"], "b's own work")):
            body = {"goal": goal, "plan": PLAN}
            resp = client.post("/api/v1/tasks", json=body, headers=headers(key))
            assert resp.status_code == 202, resp.text
            ids.append(resp.json()["task_id"])
        yield Setup(client, ids[0], ids[1], keys)


def _reads(task_id: str) -> list[str]:
    """Every read that takes ``?tenant=``."""
    one = f"/api/v1/tasks/{task_id}"
    return ["/api/v1/tasks", "/api/v1/tasks/counts", one] + [
        f"{one}/{part}" for part in ("steps", "result", "events")
    ]


@pytest.mark.parametrize("who", ["b_plain", "b_admin", "ops_reader"])
@pytest.mark.parametrize("tenant", ["op-a", "*"])
def test_a_key_not_an_operator_admin_gets_403_and_nothing_of_another_tenant(
    s: Setup, who: str, tenant: str
) -> None:
    for path in _reads(s.a_task):
        resp = s.client.get(path, params={"tenant": tenant}, headers=headers(s.keys[who]))
        assert resp.status_code == 403, (path, resp.status_code, resp.text)
        problem = resp.json()
        assert problem["error"]["code"] == "FORBIDDEN"
        assert "operator tenant" in problem["error"]["message"]
        assert s.a_task not in resp.text
        assert "secret plan" not in resp.text
        assert s.b_task not in resp.text, "never its own tenant's data in place of the other's"


def test_a_plain_key_of_an_operator_tenant_is_not_an_operator(s: Setup) -> None:
    me = s.client.get("/api/v1/keys/me", headers=headers(s.keys["ops_reader"])).json()
    assert me["operator"] is False
    assert (
        s.client.get("/api/v1/keys/me", headers=headers(s.keys["b_admin"])).json()["operator"]
        is False
    )


def test_naming_ones_own_tenant_is_the_default_read(s: Setup) -> None:
    resp = s.client.get(
        "/api/v1/tasks", params={"tenant": "op-b"}, headers=headers(s.keys["b_plain"])
    )
    assert resp.status_code == 200
    assert [t["task_id"] for t in resp.json()["items"]] == [s.b_task]
    assert resp.json()["items"][0]["tenant"] == "op-b"


def test_an_operator_admin_reads_another_tenants_tasks_with_the_filter(s: Setup) -> None:
    ops = headers(s.keys["ops_admin"])
    assert s.client.get("/api/v1/keys/me", headers=ops).json()["operator"] is True

    own = s.client.get("/api/v1/tasks", headers=ops).json()
    assert own["items"] == [], "without ?tenant= an operator reads its own tenant's"
    listed = s.client.get("/api/v1/tasks", params={"tenant": "op-a"}, headers=ops).json()
    assert [(t["task_id"], t["tenant"]) for t in listed["items"]] == [(s.a_task, "op-a")]
    counts = s.client.get("/api/v1/tasks/counts", params={"tenant": "op-a"}, headers=ops)
    assert counts.json()["total"] == 1

    every = s.client.get("/api/v1/tasks", params={"tenant": "*", "limit": 500}, headers=ops)
    found = {t["task_id"]: t["tenant"] for t in every.json()["items"]}
    assert found[s.a_task] == "op-a"
    assert found[s.b_task] == "op-b"

    one = s.client.get(f"/api/v1/tasks/{s.a_task}", params={"tenant": "op-a"}, headers=ops)
    assert one.status_code == 200
    assert one.json()["goal"] == "tenant a's secret plan"
    steps = s.client.get(f"/api/v1/tasks/{s.a_task}/steps", params={"tenant": "op-a"}, headers=ops)
    assert [x["step_id"] for x in steps.json()["steps"]] == ["s"]
    # the tenant named must be the task's: a's task under b's name is not found
    wrong = s.client.get(f"/api/v1/tasks/{s.a_task}", params={"tenant": "op-b"}, headers=ops)
    assert wrong.status_code == 404
    # one task under "*" is refused: a read of one task names its tenant
    star = s.client.get(f"/api/v1/tasks/{s.a_task}", params={"tenant": "*"}, headers=ops)
    assert star.status_code == 403
    # acting on another tenant's task is still refused (cancel acts on the key's own tenant)
    cancel = s.client.post(f"/api/v1/tasks/{s.a_task}/cancel", headers=ops)
    assert cancel.status_code == 404
