"""Binding the arms' shared collaborators to one tenant for one unit of work.

A process builds its collaborators once (``collaborators.services_for``) and serves every
tenant with them. Those that hold tenant data (the coder's episodic memory, ...) are built
*unbound*: they expose ``for_tenant(tenant)`` and nothing that reads or writes. ``bind`` gives a
step (or an arm call, or an event reaction) the views of **its task row's tenant** — the
tenant is read from Postgres by the caller of ``bind``, never taken from a message body or an
event payload — so an arm cannot reach another tenant's data and no call site can forget the
scope::

    shared = services_for("coder", rt)           # {"coder_memory": LazyCoderMemory, ...}
    scoped = bind(shared, claim.tenant, capability)
    scoped["coder_memory"].recall(...)           # only claim.tenant's solutions
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from octollm.errors import InvalidInput
from octollm.orchestrator.runtime import Runtime
from octollm.store import tasks as task_repo


@runtime_checkable
class TenantScoped(Protocol):
    """A collaborator holding tenant data: usable only through a tenant's view."""

    def for_tenant(self, tenant: str) -> Any: ...


def bind(shared: Mapping[str, Any], tenant: str, capability: Any = None) -> dict[str, Any]:
    """``shared`` with every ``TenantScoped`` collaborator replaced by ``tenant``'s view, plus
    the delivery's verified ``capability`` (when there is one)."""
    if not tenant:
        raise InvalidInput("a unit of work needs its task row's tenant")
    bound = {
        name: value.for_tenant(tenant) if isinstance(value, TenantScoped) else value
        for name, value in shared.items()
    }
    if capability is not None:
        bound["capability"] = capability
    return bound


def task_tenant(rt: Runtime, task_id: str | None) -> str | None:
    """The tenant of the task row ``task_id``; None when there is no such row."""
    if not task_id:
        return None
    with rt.db.autocommit() as conn:
        return task_repo.tenant_of(conn, task_id)
