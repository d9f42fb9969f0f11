"""Per-tenant weights and limits (``tenant_limits``), and the usage they are checked against.

A tenant without a row has weight 1 and no limits. Usage is read from the tasks and steps the
tenant owns: unfinished tasks, steps released to the broker and not finished, and the tokens
and cost of the tasks it created since midnight UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from octollm.contracts.status import ACTIVE_TASK_STATUSES, sql_list
from octollm.errors import QuotaExceeded
from octollm.store.db import Connection, Session
from octollm.store.models import Base, _now


class TenantLimitRow(Base):
    __tablename__ = "tenant_limits"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    weight: Mapped[float] = mapped_column(Float, server_default=text("1"))
    max_running: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_running_per_arm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_queued_tasks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    daily_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    daily_cost_usd: Mapped[float | None] = mapped_column(Numeric(14, 6), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class FairPassRow(Base):
    __tablename__ = "fair_passes"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    urgency: Mapped[str] = mapped_column(String(16), primary_key=True)
    pass_: Mapped[float] = mapped_column("pass", Float, server_default=text("0"))


@dataclass(frozen=True)
class Limits:
    """A tenant's weight and limits (``None``: no limit)."""

    tenant: str
    weight: float = 1.0
    max_running: int | None = None
    max_running_per_arm: int | None = None
    max_queued_tasks: int | None = None
    daily_tokens: int | None = None
    daily_cost_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


LIMIT_FIELDS = tuple(f.name for f in fields(Limits) if f.name != "tenant")

_COLUMNS = ", ".join(LIMIT_FIELDS)
_GET = text(f"SELECT tenant, {_COLUMNS} FROM tenant_limits WHERE tenant = :tenant")  # noqa: S608
_ALL = text(f"SELECT tenant, {_COLUMNS} FROM tenant_limits ORDER BY tenant")  # noqa: S608


def _limits(row: Any) -> Limits:
    values = dict(row._mapping)
    if values.get("daily_cost_usd") is not None:
        values["daily_cost_usd"] = float(values["daily_cost_usd"])
    return Limits(**values)


def get(conn: Session | Connection, tenant: str) -> Limits:
    row = conn.execute(_GET, {"tenant": tenant}).first()
    return _limits(row) if row is not None else Limits(tenant)


def all_limits(conn: Session | Connection) -> dict[str, Limits]:
    return {row.tenant: _limits(row) for row in conn.execute(_ALL)}


def put(conn: Session | Connection, tenant: str, changes: dict[str, Any]) -> Limits:
    """Set some of a tenant's fields (a ``None`` value removes that limit); returns the row."""
    unknown = set(changes) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown tenant limit(s): {', '.join(sorted(unknown))}")
    current = get(conn, tenant).as_dict()
    current.update(changes)
    values = {k: current[k] for k in LIMIT_FIELDS}
    assignments = ", ".join(f"{k} = EXCLUDED.{k}" for k in LIMIT_FIELDS)
    placeholders = ", ".join(f":{k}" for k in LIMIT_FIELDS)
    conn.execute(
        text(
            f"INSERT INTO tenant_limits (tenant, {_COLUMNS}, updated_at) "  # noqa: S608
            f"VALUES (:tenant, {placeholders}, now()) "
            f"ON CONFLICT (tenant) DO UPDATE SET {assignments}, updated_at = now()"
        ),
        {"tenant": tenant, **values},
    )
    return get(conn, tenant)


_UNFINISHED = text(
    f"SELECT count(*) FROM tasks WHERE tenant = :tenant AND status IN ({sql_list(ACTIVE_TASK_STATUSES)})"  # noqa: E501, S608
)
_TODAY = text(
    """
    SELECT coalesce(sum(tokens_used), 0), coalesce(sum(cost_usd), 0),
           EXTRACT(EPOCH FROM (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day'
                               - now() AT TIME ZONE 'UTC'))
      FROM tasks
     WHERE tenant = :tenant
       AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    """
)


def unfinished_tasks(conn: Session | Connection, tenant: str) -> int:
    """The tenant's tasks that have not ended (queued, planning, processing)."""
    return int(conn.execute(_UNFINISHED, {"tenant": tenant}).scalar_one())


@dataclass(frozen=True)
class DailyUsage:
    tokens: int
    cost_usd: float
    seconds_to_midnight: float


def usage_today(conn: Session | Connection, tenant: str) -> DailyUsage:
    """Tokens and cost of the tenant's tasks created since midnight UTC."""
    tokens, cost, left = conn.execute(_TODAY, {"tenant": tenant}).one()
    return DailyUsage(int(tokens), float(cost), float(left))


#: Steps released to the broker and not finished: queued or running steps of live tasks that
#: have no held canvas (a held canvas's steps are not released yet). Conservative: later steps
#: of a released multi-step canvas count from the moment it is released.
_IN_FLIGHT = text(
    f"""
    SELECT t.tenant, s.arm, count(*) AS n
      FROM steps s JOIN tasks t ON t.id = s.task_id
     WHERE s.status IN ('queued', 'running')
       AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
       AND t.tenant = ANY(:tenants)
       AND NOT EXISTS (SELECT 1 FROM outbox o
                        WHERE o.task_id = s.task_id AND o.published_at IS NULL)
     GROUP BY t.tenant, s.arm
    """  # noqa: S608 - status literals from the enums, values bound
)


def in_flight(conn: Session | Connection, tenants: list[str]) -> dict[str, dict[str, int]]:
    """Released, unfinished steps per tenant and arm (only for ``tenants``)."""
    out: dict[str, dict[str, int]] = {}
    if not tenants:
        return out
    for row in conn.execute(_IN_FLIGHT, {"tenants": tenants}):
        out.setdefault(row.tenant, {})[row.arm] = int(row.n)
    return out


_RUNNING = text(
    f"""
    SELECT t.tenant, count(*) AS n
      FROM steps s JOIN tasks t ON t.id = s.task_id
     WHERE s.status = 'running' AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
     GROUP BY t.tenant
    """  # noqa: S608 - status literals from the enums
)


def running_by_tenant(conn: Session | Connection) -> dict[str, int]:
    """Running steps of live tasks, per tenant."""
    return {row.tenant: int(row.n) for row in conn.execute(_RUNNING)}


_QUOTA_OF_TASK = text(
    """
    SELECT l.tenant, l.daily_tokens, l.daily_cost_usd,
           coalesce(sum(o.tokens_used), 0) AS tokens, coalesce(sum(o.cost_usd), 0) AS cost,
           EXTRACT(EPOCH FROM (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day'
                               - now() AT TIME ZONE 'UTC')) AS left_seconds
      FROM tasks t
      JOIN tenant_limits l ON l.tenant = t.tenant
                          AND (l.daily_tokens IS NOT NULL OR l.daily_cost_usd IS NOT NULL)
      LEFT JOIN tasks o ON o.tenant = t.tenant
                       AND o.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                           AT TIME ZONE 'UTC'
     WHERE t.id = :task_id
     GROUP BY l.tenant, l.daily_tokens, l.daily_cost_usd
    """
)


@dataclass(frozen=True)
class QuotaState:
    tenant: str
    daily_tokens: int | None
    daily_cost_usd: float | None
    usage: DailyUsage

    def exhausted(self) -> str | None:
        """Which quota is used up (``tokens``/``cost``), or None."""
        if self.daily_tokens is not None and self.usage.tokens >= self.daily_tokens:
            return "tokens"
        if self.daily_cost_usd is not None and self.usage.cost_usd >= self.daily_cost_usd:
            return "cost"
        return None

    def enforce(self) -> None:
        """Raise ``QuotaExceeded`` when one of the tenant's daily quotas is used up."""
        which = self.exhausted()
        if which is None:
            return
        if which == "tokens":
            used, limit = f"{self.usage.tokens} tokens", f"{self.daily_tokens} tokens"
        else:
            used, limit = f"{self.usage.cost_usd:.4f} USD", f"{self.daily_cost_usd} USD"
        raise QuotaExceeded(
            f"tenant {self.tenant!r} used {used} today, its daily quota is {limit}",
            retry_after=max(1.0, self.usage.seconds_to_midnight),
            details={"quota": f"daily_{which}", "tenant": self.tenant},
        )


def quota_of_task(conn: Session | Connection, task_id: str) -> QuotaState | None:
    """The daily quotas of the task's tenant and today's usage; None when it has none."""
    row = conn.execute(_QUOTA_OF_TASK, {"task_id": task_id}).first()
    if row is None:
        return None
    return QuotaState(
        row.tenant,
        None if row.daily_tokens is None else int(row.daily_tokens),
        None if row.daily_cost_usd is None else float(row.daily_cost_usd),
        DailyUsage(int(row.tokens), float(row.cost), float(row.left_seconds)),
    )


def quota_of_tenant(conn: Session | Connection, tenant: str) -> QuotaState | None:
    lim = get(conn, tenant)
    if lim.daily_tokens is None and lim.daily_cost_usd is None:
        return None
    return QuotaState(tenant, lim.daily_tokens, lim.daily_cost_usd, usage_today(conn, tenant))
