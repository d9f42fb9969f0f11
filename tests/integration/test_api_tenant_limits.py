"""Per-tenant limits through the API: an operator sets them, a tenant reads its own, and a
submit over a limit gets 429 with ``Retry-After`` (``RATE_LIMITED`` or ``QUOTA_EXCEEDED``)."""

from __future__ import annotations

from tests.support.apiserver import api_stack, headers, inproc_client, make_key
from tests.support.stack import LiveStack

__all__ = ["api_stack"]

PLAN = {"steps": [{"step_id": "e", "arm": "echo", "action": "one step"}]}


def test_limits_are_set_by_an_operator_read_by_the_tenant_and_enforced_at_submit(
    api_stack: LiveStack,
) -> None:
    ops = make_key(api_stack, "ops-tenant", ["admin"])
    boxed = make_key(api_stack, "boxed-tenant", ["admin"])
    broke = make_key(api_stack, "broke-tenant", ["admin"])
    other = make_key(api_stack, "other-tenant")
    with inproc_client(api_stack, operator_tenants=["ops-tenant"]) as client:
        put = client.put(
            "/api/v1/tenants/boxed-tenant/limits",
            json={"max_queued_tasks": 0, "weight": 2},
            headers=headers(ops),
        )
        assert put.status_code == 200, put.text
        assert put.json()["max_queued_tasks"] == 0
        assert put.json()["weight"] == 2
        # A tenant's own admin key reads its limits but may not raise them.
        own = client.get("/api/v1/tenants/boxed-tenant/limits", headers=headers(boxed))
        assert own.status_code == 200
        assert own.json()["usage"]["unfinished_tasks"] == 0
        denied = client.put(
            "/api/v1/tenants/boxed-tenant/limits",
            json={"max_queued_tasks": 100},
            headers=headers(boxed),
        )
        assert denied.status_code == 403
        hidden = client.get("/api/v1/tenants/ops-tenant/limits", headers=headers(boxed))
        assert hidden.status_code == 404

        body = {"goal": "one echo step to run", "plan": PLAN}
        refused = client.post("/api/v1/tasks", json=body, headers=headers(boxed))
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert int(refused.headers["Retry-After"]) >= 1

        assert (
            client.put(
                "/api/v1/tenants/broke-tenant/limits",
                json={"daily_tokens": 0},
                headers=headers(ops),
            ).status_code
            == 200
        )
        over = client.post("/api/v1/tasks", json=body, headers=headers(broke))
        assert over.status_code == 429, over.text
        assert over.json()["error"]["code"] == "QUOTA_EXCEEDED"
        assert int(over.headers["Retry-After"]) >= 1

        fine = client.post("/api/v1/tasks", json=body, headers=headers(other))
        assert fine.status_code == 202, fine.text
