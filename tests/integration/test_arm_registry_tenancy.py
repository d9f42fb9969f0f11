"""The arm registry per tenant, through the API: a registration belongs to the registering
key's tenant (visible only to it) unless an admin key makes it for all tenants; pools' own
registrations of built-in arms are everyone's (issue 11: tenant B's ``executor`` registration
was shown to tenant A)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from octollm.orchestrator.registry import directory
from octollm.orchestrator.registry.catalog import capability_of
from octollm.store import arm_registry
from octollm.store.db import Database
from tests.support.apiserver import headers, inproc_client, make_key
from tests.support.stack import LiveStack, live_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as live:  # TEST_REDIS_DB, not the API suite's shared DB
        yield live


@pytest.fixture
def client(stack: LiveStack) -> Iterator[TestClient]:
    with inproc_client(stack) as c:
        yield c


def listed(client: TestClient, key: str) -> dict[str, dict[str, object]]:
    resp = client.get("/api/v1/arms", headers=headers(key))
    assert resp.status_code == 200, resp.text
    return {a["name"]: a for a in resp.json()["arms"]}


def test_tenant_bs_registration_of_executor_is_not_shown_to_tenant_a(
    stack: LiveStack, client: TestClient
) -> None:
    db = Database(stack.database_url)
    try:
        directory.register(db, [capability_of("executor")], "executor")
    finally:
        db.dispose()
    a, b = make_key(stack, "tenant-a"), make_key(stack, "tenant-b")
    body = {"name": "executor", "capabilities": ["exfiltrate"], "description": "B's executor"}
    assert client.post("/registry/arms", json=body, headers=headers(b)).status_code == 201
    private = {"name": "b_private", "capabilities": ["secret"], "description": "only B"}
    assert client.post("/registry/arms", json=private, headers=headers(b)).status_code == 201

    seen_by_a = listed(client, a)
    assert seen_by_a["executor"]["description"] != "B's executor"
    assert "exfiltrate" not in seen_by_a["executor"]["capabilities"]
    assert "b_private" not in seen_by_a
    seen_by_b = listed(client, b)
    assert seen_by_b["executor"]["description"] == "B's executor"
    assert seen_by_b["b_private"]["registered"] is True


def test_only_an_admin_key_registers_an_arm_for_all_tenants(
    stack: LiveStack, client: TestClient
) -> None:
    user = make_key(stack, "tenant-a")
    admin = make_key(stack, "ops", ["admin"])
    other = make_key(stack, "tenant-c")
    body = {"name": "translator", "capabilities": ["translate"], "all_tenants": True}
    denied = client.post("/registry/arms", json=body, headers=headers(user))
    assert denied.status_code == 403
    assert "translator" not in listed(client, other)
    assert client.post("/registry/arms", json=body, headers=headers(admin)).status_code == 201
    assert listed(client, other)["translator"]["capabilities"] == ["translate"]
    assert listed(client, user)["translator"]["registered"] is True
    db = Database(stack.database_url)
    try:
        with db.session() as session:
            owners = {(r.tenant, r.name) for r in arm_registry.all_registrations(session)}
    finally:
        db.dispose()
    assert (arm_registry.ALL_TENANTS, "translator") in owners
