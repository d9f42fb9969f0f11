"""Per-tenant limits checked when a task is submitted, and the daily quota checked before
each LLM call of a step.

* ``max_queued_tasks``: a tenant with that many unfinished tasks gets ``RateLimited`` (429,
  ``Retry-After``) for the next one.
* ``daily_tokens`` / ``daily_cost_usd``: the tokens and cost of the tenant's tasks created
  since midnight UTC. A submit once either is used up gets ``QuotaExceeded`` (429,
  ``Retry-After`` = seconds to midnight UTC); a step whose next LLM call finds it used up fails
  with ``QUOTA_EXCEEDED`` (the overshoot is bounded by the calls already in flight).

Other tenants' rows are never read: a tenant at its limits does not affect another.
"""

from __future__ import annotations

from octollm.errors import RateLimited
from octollm.store import tenant_limits as limits_repo
from octollm.store.db import Connection, Session
from octollm.store.tenant_limits import QuotaState

#: Retry-After of a submit refused for too many unfinished tasks (they finish at their pace).
QUEUED_RETRY_AFTER_SECONDS = 5


def admit(conn: Session | Connection, tenant: str) -> None:
    """Raise ``RateLimited`` or ``QuotaExceeded`` when the tenant may not submit a task now."""
    lim = limits_repo.get(conn, tenant)
    if lim.max_queued_tasks is not None:
        unfinished = limits_repo.unfinished_tasks(conn, tenant)
        if unfinished >= lim.max_queued_tasks:
            raise RateLimited(
                f"tenant {tenant!r} has {unfinished} unfinished tasks, its limit is "
                f"{lim.max_queued_tasks}; retry in {QUEUED_RETRY_AFTER_SECONDS} s",
                retry_after=QUEUED_RETRY_AFTER_SECONDS,
                details={"limit": lim.max_queued_tasks, "kind": "queued_tasks"},
            )
    if lim.daily_tokens is None and lim.daily_cost_usd is None:
        return
    state = QuotaState(
        tenant, lim.daily_tokens, lim.daily_cost_usd, limits_repo.usage_today(conn, tenant)
    )
    state.enforce()
