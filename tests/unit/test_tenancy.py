"""Tenant scoping by construction: views bound per unit of work, keys built per tenant."""

from __future__ import annotations

from typing import Any

import pytest

from octollm.errors import InvalidInput
from octollm.events.bus import channel
from octollm.memory.cache import check_tenant, tenant_prefix
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.capability.reactions import event_digest, reaction_step


class Scoped:
    def for_tenant(self, tenant: str) -> tuple[str, str]:
        return ("view", tenant)


def test_binding_replaces_every_tenant_scoped_collaborator_with_the_tenants_view() -> None:
    shared: dict[str, Any] = {"memory": Scoped(), "arms": ["coder"]}
    bound = tenancy.bind(shared, "acme", capability="cap")
    assert bound == {"memory": ("view", "acme"), "arms": ["coder"], "capability": "cap"}
    assert isinstance(shared["memory"], Scoped), "the process-wide collaborator is untouched"


def test_a_unit_of_work_without_a_tenant_gets_no_collaborators() -> None:
    with pytest.raises(InvalidInput):
        tenancy.bind({"memory": Scoped()}, "")


def test_live_event_channels_are_per_tenant() -> None:
    assert channel("task.completed", "acme") == "octollm:events:tenant:acme:task.completed"
    assert channel("task.completed", "acme") != channel("task.completed", "evil")


@pytest.mark.parametrize("bad", ["", "*", "a:b", "a*", "x]y", "../up", "a" * 65])
def test_a_tenant_that_could_escape_its_key_namespace_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        check_tenant(bad)


def test_tenant_prefixes_never_nest() -> None:
    assert tenant_prefix("a") == "octollm:tenant:a:"
    assert not tenant_prefix("ab").startswith(tenant_prefix("a"))


def test_a_reaction_token_binds_the_exact_event_body() -> None:
    body = {"event_id": "evt-1", "task_id": "t", "tenant": "a", "data": {"step_id": "s"}}
    assert event_digest(body) == event_digest(dict(reversed(body.items())))
    assert event_digest(body) != event_digest({**body, "tenant": "b"})
    assert reaction_step("code.generated->judge.validate", "evt-1").endswith(":evt-1")
