"""A task's token and cost budget as its steps spend it.

Every LLM call is charged to the task row as soon as it returns (one ``UPDATE ... RETURNING``),
so parallel steps of one task see each other's spending; the step's own totals are stored when
it finishes. ``MeteredLLM`` asks the ledger what is left before each call and refuses a call
that cannot fit; the ledger fails the step with ``QUOTA_EXCEEDED`` once the task's tenant has
used up its daily token or cost quota (``octollm tenants set``). Overspend is bounded by the
calls in flight at the same moment, each of which was capped to what was left when it started.
"""

from __future__ import annotations

from typing import Protocol

from octollm.store import tasks as task_repo
from octollm.store import tenant_limits
from octollm.store.db import Database


class Ledger(Protocol):
    def remaining(self) -> tuple[int, float]:
        """(tokens, USD) the task may still spend."""
        ...

    def charge(self, tokens: int, cost: float) -> tuple[int, float]:
        """Record spending; returns what is left afterwards (negative when overspent)."""
        ...


class TaskLedger:
    """The budget of one task, kept in its Postgres row."""

    def __init__(self, db: Database, task_id: str) -> None:
        self.db = db
        self.task_id = task_id

    def remaining(self) -> tuple[int, float]:
        with self.db.session() as session:
            used, cost, max_tokens, max_cost, _ = task_repo.usage(session, self.task_id)
            quota = tenant_limits.quota_of_task(session, self.task_id)
        if quota is not None:
            quota.enforce()  # the tenant's daily quota is used up: QUOTA_EXCEEDED
        return max_tokens - used, max_cost - cost

    def charge(self, tokens: int, cost: float) -> tuple[int, float]:
        with self.db.session() as session:
            used, spent, max_tokens, max_cost = task_repo.charge_call(
                session, self.task_id, tokens, cost
            )
        return max_tokens - used, max_cost - spent


class FixedLedger:
    """A budget held in memory, for running an arm outside a task (CLI, notebooks)."""

    def __init__(self, tokens: int, cost: float = float("inf")) -> None:
        self.tokens = tokens
        self.cost = cost

    def remaining(self) -> tuple[int, float]:
        return self.tokens, self.cost

    def charge(self, tokens: int, cost: float) -> tuple[int, float]:
        self.tokens -= tokens
        self.cost -= cost
        return self.tokens, self.cost
