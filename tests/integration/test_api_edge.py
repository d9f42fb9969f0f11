"""The reflex edge and ops: rate limits across two API processes, readiness, keys, arms,
batches and metrics."""

from __future__ import annotations

import time

import httpx

from tests.support.apiserver import (
    api_server,
    api_stack,
    headers,
    inproc_client,
    make_key,
)
from tests.support.stack import LiveStack, wait_until

__all__ = ["api_stack"]

TIGHT = {
    "rate_limits": {
        "submit": {"rate": 0.5, "burst": 5},
        "submit_per_key": {"rate": 100, "burst": 100},
        "read": {"rate": 100, "burst": 100},
        "read_per_key": {"rate": 100, "burst": 100},
    }
}


def test_a_tenant_over_its_rate_gets_429_with_retry_after_across_two_api_processes(
    api_stack: LiveStack,
) -> None:
    keys = [make_key(api_stack, "busy"), make_key(api_stack, "busy")]
    outcomes: list[tuple[int, int, httpx.Response]] = []
    with (
        api_server(api_stack, "api-1", **TIGHT) as one,
        api_server(api_stack, "api-2", **TIGHT) as two,
    ):
        began = time.monotonic()
        for i in range(12):
            server = (one, two)[i % 2]
            resp = httpx.post(
                f"{server.url}/api/v1/tasks",
                json={"goal": f"rate limited request {i}"},
                headers=headers(keys[i % 2]),
                timeout=10,
            )
            outcomes.append((i % 2, resp.status_code, resp))
        elapsed = time.monotonic() - began
    accepted = [o for o in outcomes if o[1] == 202]
    limited = [o for o in outcomes if o[1] == 429]
    assert len(accepted) + len(limited) == 12
    # One bucket shared by both processes: the burst of 5 plus what refilled meanwhile.
    assert 5 <= len(accepted) <= 5 + int(elapsed * 0.5) + 1, (len(accepted), elapsed)
    assert {server for server, _, _ in limited} == {0, 1}, "one process did not see the limit"
    resp = limited[0][2]
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.headers["x-ratelimit-limit"] == "5"
    assert resp.headers["x-ratelimit-remaining"] == "0"
    assert resp.json()["error"]["code"] == "RATE_LIMITED"
    assert accepted[0][2].headers["x-ratelimit-limit"] == "5"


def test_ready_is_503_while_an_arm_pool_has_no_consumer_and_200_once_it_has(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    with inproc_client(api_stack, ready_arms=["orchestrator", "echo", "noop"]) as client:
        assert client.get("/health").json()["status"] == "ok"
        missing = client.get("/ready")
        api_stack.start_worker(["noop"])
        time.sleep(0.6)  # the verdict is cached for ready_cache_seconds
        ready = client.get("/ready")
    assert missing.status_code == 503
    workers = missing.json()["checks"]["workers"]
    assert workers["ok"] is False
    assert "noop" in workers["detail"]
    assert workers["data"]["pools"]["echo"]["workers"] == 1
    assert missing.json()["checks"]["database"]["ok"] is True
    assert ready.status_code == 200, ready.text
    assert ready.json()["ready"] is True


def test_a_batch_queues_its_valid_items_and_reports_the_invalid_ones(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    key = make_key(api_stack, "acme")
    items = [
        {
            "goal": "first valid batch item",
            "plan": {"steps": [{"step_id": "a", "arm": "echo", "action": "x"}]},
        },
        {"goal": "short"},
        {
            "goal": "unknown arm in this one",
            "plan": {"steps": [{"step_id": "a", "arm": "nosuch", "action": "x"}]},
        },
        {
            "goal": "second valid batch item",
            "plan": {"steps": [{"step_id": "a", "arm": "echo", "action": "y"}]},
        },
    ]
    with inproc_client(api_stack) as client:
        resp = client.post("/api/v1/batches", json={"tasks": items}, headers=headers(key))
        assert resp.status_code == 202, resp.text
        batch = resp.json()
        deadline = time.monotonic() + 30
        while True:
            view = client.get(f"/api/v1/batches/{batch['batch_id']}", headers=headers(key)).json()
            if view["done"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        too_many = client.post(
            "/api/v1/batches", json={"tasks": [{"goal": "x" * 20}] * 101}, headers=headers(key)
        )
    assert (batch["accepted"], batch["rejected"]) == (2, 2)
    statuses = [i["status"] for i in batch["items"]]
    assert statuses == ["accepted", "rejected", "rejected", "accepted"]
    assert batch["items"][1]["error"]["details"]["errors"][0]["field"] == "tasks[1].goal"
    assert batch["items"][2]["error"]["code"] == "INVALID_PLAN"
    assert view["done"]
    assert view["counts"] == {"completed": 2}
    assert too_many.status_code == 422


def test_keys_are_created_listed_and_revoked_by_an_admin(api_stack: LiveStack) -> None:
    admin = make_key(api_stack, "acme", ["admin"])
    with inproc_client(api_stack) as client:
        created = client.post(
            "/api/v1/keys", json={"scopes": ["task:read"], "name": "ci"}, headers=headers(admin)
        )
        assert created.status_code == 201, created.text
        new = created.json()
        works = client.get("/api/v1/tasks", headers=headers(new["api_key"]))
        revoked = client.delete(f"/api/v1/keys/{new['key_id']}", headers=headers(admin))
        after = client.get("/api/v1/tasks", headers=headers(new["api_key"]))
        listed = client.get("/api/v1/keys", headers=headers(admin)).json()["keys"]
        not_admin = client.get("/api/v1/keys", headers=headers(new["api_key"]))
    assert works.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert after.status_code == 401
    assert "api_key" not in listed[0]
    assert new["key_id"] not in {k["key_id"] for k in listed}
    assert not_admin.status_code == 401


def test_arms_are_listed_with_health_and_registration_needs_the_scope(
    api_stack: LiveStack,
) -> None:
    api_stack.start_fleet(["orchestrator", "echo"])
    wait_until(
        lambda: api_stack.redis().keys("octollm:registry:heartbeat:echo:*"), 15, "echo heartbeat"
    )
    user = make_key(api_stack, "acme", ["arm:list", "task:read"])
    admin = make_key(api_stack, "acme", ["admin"])
    registration = {"name": "translator", "capabilities": ["translate"], "version": "1.2"}
    with inproc_client(api_stack) as client:
        denied = client.post("/registry/arms", json=registration, headers=headers(user))
        created = client.post("/registry/arms", json=registration, headers=headers(admin))
        arms = {
            a["name"]: a for a in client.get("/api/v1/arms", headers=headers(user)).json()["arms"]
        }
    assert denied.status_code == 403
    assert created.status_code == 201
    assert arms["translator"]["registered"]
    assert not arms["translator"]["installed"]
    assert arms["echo"]["installed"]
    assert arms["echo"]["healthy"] is True
    assert arms["echo"]["capabilities"] == ["echo"]
    assert arms["fail"]["healthy"] is False
    # The registry's verdict, from the pools' heartbeats: echo's pool beats, fail has none.
    assert arms["echo"]["health"] == "healthy"
    assert 0 <= arms["echo"]["heartbeat_age_seconds"] < 30
    assert arms["fail"]["health"] == "unavailable"
    assert arms["fail"]["heartbeat_age_seconds"] is None


def test_metrics_expose_http_and_submission_counters(api_stack: LiveStack) -> None:
    key = make_key(api_stack, "acme")
    with inproc_client(api_stack) as client:
        client.post("/api/v1/tasks", json={"goal": "count me in the metrics"}, headers=headers(key))
        text = client.get("/metrics").text
    assert 'octollm_http_requests_total{method="POST",route="/api/v1/tasks",status="202"}' in text
    assert "octollm_api_tasks_submitted_total" in text
    planner = f'queue="{api_stack.prefix}.planner.medium"'
    assert any(
        line.startswith("octollm_queue_depth{") and planner in line for line in text.splitlines()
    ), "the API serves the depth of every octollm queue"
    assert 'octollm_tasks_total{status="queued"}' in text
