"""What the dashboard reads from the API: search and arm filters on the task list, per-status
counts, a step's generation, input and worker, the calling key, the fleet, and ``/ui`` itself
(served with a strict Content-Security-Policy, its assets from the package)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.support.apiserver import api_stack, headers, inproc_client, make_key
from tests.support.stack import LiveStack

__all__ = ["api_stack"]


@dataclass
class Setup:
    client: TestClient
    key: str
    other: str
    ids: dict[str, str]


INPUTS = {"echo": {"sleep": 0.25}, "sleep": {"seconds": 1}}


def _plan(arm: str) -> dict[str, object]:
    return {"steps": [{"step_id": "s", "arm": arm, "action": "wait", "input": INPUTS[arm]}]}


@pytest.fixture
def s(api_stack: LiveStack) -> Iterator[Setup]:
    key = make_key(api_stack, "dash")
    other = make_key(api_stack, "elsewhere")
    with inproc_client(api_stack) as client:
        ids = {}
        for name, goal, arm in (
            ("echo", "Summarise the 100% quarterly_report", "echo"),
            ("sleep", "sleep on it", "sleep"),
        ):
            resp = client.post(
                "/api/v1/tasks", json={"goal": goal, "plan": _plan(arm)}, headers=headers(key)
            )
            assert resp.status_code == 202, resp.text
            ids[name] = resp.json()["task_id"]
        resp = client.post(
            "/api/v1/tasks",
            json={"goal": "Summarise someone else's report", "plan": _plan("echo")},
            headers=headers(other),
        )
        assert resp.status_code == 202
        yield Setup(client, key, other, ids)


def _listed(s: Setup, **query: str) -> list[str]:
    resp = s.client.get("/api/v1/tasks", params=query, headers=headers(s.key))
    assert resp.status_code == 200, resp.text
    return [t["task_id"] for t in resp.json()["items"]]


def test_the_task_list_searches_goal_words_case_insensitively_and_ids_exactly(s: Setup) -> None:
    assert _listed(s, q="summarise THE") == [s.ids["echo"]]
    assert _listed(s, q=s.ids["sleep"]) == [s.ids["sleep"]]
    assert _listed(s, q="100%") == [s.ids["echo"]], "a % is a character, not a wildcard"
    assert _listed(s, q="quarterly_r") == [s.ids["echo"]]
    assert _listed(s, q="1_0") == [], "an underscore is a character, not a wildcard"
    assert _listed(s, q="someone else") == [], "another tenant's goal is never searched"


def test_the_task_list_filters_by_the_arm_of_a_step(s: Setup) -> None:
    assert _listed(s, arm="sleep") == [s.ids["sleep"]]
    assert _listed(s, arm="coder") == []


def test_counts_are_per_status_within_the_tenant_and_its_filters(s: Setup) -> None:
    body = s.client.get("/api/v1/tasks/counts", headers=headers(s.key)).json()
    assert body["total"] == 2
    assert sum(body["by_status"].values()) == 2
    narrowed = s.client.get("/api/v1/tasks/counts", params={"arm": "echo"}, headers=headers(s.key))
    assert narrowed.json()["total"] == 1
    other = s.client.get("/api/v1/tasks/counts", headers=headers(s.other)).json()
    assert other["total"] == 1


def test_a_step_shows_its_generation_and_input(s: Setup) -> None:
    (step,) = s.client.get(f"/api/v1/tasks/{s.ids['echo']}/steps", headers=headers(s.key)).json()[
        "steps"
    ]
    assert step["generation"] == 1
    assert step["input"]["sleep"] == 0.25
    assert "worker" in step


def test_a_key_learns_its_tenant_and_scopes(s: Setup) -> None:
    me = s.client.get("/api/v1/keys/me", headers=headers(s.key)).json()
    assert me["tenant"] == "dash"
    assert "task:read" in me["scopes"]
    assert s.client.get("/api/v1/keys/me").status_code == 401


def test_the_fleet_is_for_admins_and_lists_every_arms_queues(api_stack: LiveStack) -> None:
    admin = make_key(api_stack, "ops", ["admin"])
    user = make_key(api_stack, "ops")
    with inproc_client(api_stack) as client:
        assert client.get("/api/v1/fleet", headers=headers(user)).status_code == 403
        resp = client.get("/api/v1/fleet", headers=headers(admin))
    assert resp.status_code == 200, resp.text
    fleet = resp.json()
    queued = {(q["arm"], q["urgency"]) for q in fleet["queues"]}
    assert {("echo", u) for u in ("critical", "high", "medium", "low")} <= queued
    assert all(q["depth"] is not None for q in fleet["queues"]), fleet["errors"]
    assert fleet["pools"], "the fleet file's pools"
    assert len(fleet["throughput"]["echo"]) == 10
    assert fleet["breaker"]["state"] in {"closed", "open", "half_open", "disabled"}


def test_the_dashboard_is_served_with_a_strict_csp_and_no_inline_script(
    api_stack: LiveStack,
) -> None:
    with inproc_client(api_stack) as client:
        page = client.get("/ui/")
        redirect = client.get("/ui", follow_redirects=False)
        script = client.get("/ui/assets/app.js")
        missing = client.get("/ui/assets/nothing.js")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert '<script type="module" src=' in page.text
    assert "<script>" not in page.text
    assert "style=" not in page.text
    assert redirect.status_code == 307
    assert redirect.headers["location"] == "/ui/"
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert missing.status_code == 404
