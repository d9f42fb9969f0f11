"""Tenants' weights and limits with their current usage: what ``octollm tenants`` and the
``/api/v1/tenants`` routes show and change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from octollm.errors import InvalidInput
from octollm.store import fair_queue
from octollm.store import tenant_limits as limits_repo
from octollm.store.db import Database
from octollm.store.tenant_limits import LIMIT_FIELDS, Limits


@dataclass(frozen=True)
class TenantView:
    limits: Limits
    unfinished_tasks: int
    held_canvases: int
    running_steps: int
    tokens_today: int
    cost_usd_today: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.limits.as_dict(),
            "usage": {
                "unfinished_tasks": self.unfinished_tasks,
                "held_canvases": self.held_canvases,
                "running_steps": self.running_steps,
                "tokens_today": self.tokens_today,
                "cost_usd_today": self.cost_usd_today,
            },
        }


def _check(changes: dict[str, Any]) -> None:
    unknown = set(changes) - set(LIMIT_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown tenant limit(s): {', '.join(sorted(unknown))}")
    weight = changes.get("weight")
    if "weight" in changes and (weight is None or float(weight) <= 0):
        raise InvalidInput("weight must be a number above 0")
    for name, value in changes.items():
        if name != "weight" and value is not None and value < 0:
            raise InvalidInput(f"{name} must be 0 or more (or unset)")


def set_limits(db: Database, tenant: str, changes: dict[str, Any]) -> TenantView:
    """Change some of a tenant's fields (``None`` removes a limit); returns the new view."""
    if not tenant or len(tenant) > 64:
        raise InvalidInput("tenant must be 1 to 64 characters")
    _check(changes)
    with db.session() as session:
        limits_repo.put(session, tenant, changes)
    return overview(db, [tenant])[0]


def overview(db: Database, tenants: list[str] | None = None) -> list[TenantView]:
    """Each tenant's limits and usage: ``tenants``, or every tenant with limits or live work."""
    with db.session() as session:
        limits = limits_repo.all_limits(session)
        held = fair_queue.held_by_tenant(session)
        running = limits_repo.running_by_tenant(session)
        names = tenants if tenants is not None else sorted({*limits, *held, *running})
        views = []
        for name in names:
            usage = limits_repo.usage_today(session, name)
            views.append(
                TenantView(
                    limits=limits.get(name, Limits(name)),
                    unfinished_tasks=limits_repo.unfinished_tasks(session, name),
                    held_canvases=held.get(name, 0),
                    running_steps=running.get(name, 0),
                    tokens_today=usage.tokens,
                    cost_usd_today=usage.cost_usd,
                )
            )
    return views
