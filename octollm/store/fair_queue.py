"""The fair dispatcher's reads and writes: held canvases (unpublished outbox rows) by tenant,
urgency and lane, and the per-tenant virtual times of stride scheduling.

With ``orchestrator.fair_dispatch`` on, an outbox row is *held* until the dispatcher releases
it (``orchestrator/fairness/dispatcher.py``); the queries here never publish anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from octollm.contracts.status import ACTIVE_TASK_STATUSES, TERMINAL_TASK_STATUSES, sql_list
from octollm.store.db import Connection, Session

#: One dispatcher at a time per database (a transaction-level advisory lock).
_LOCK_KEY = 0x6F63746F66616972  # "octofair"
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")

#: The queues a canvas's first message goes to: its first step's arm, the quarantine lane
#: for a suspect, the control queues for a canvas that is only a finalize.
_LANE = """
    CASE WHEN jsonb_array_length(o.payload->'steps') = 0 THEN 'orchestrator'
         WHEN coalesce((o.payload->'steps'->0->>'quarantine')::boolean, false) THEN 'quarantine'
         ELSE o.payload->'steps'->0->>'arm' END
"""

_HELD = text(
    f"""
    SELECT t.tenant, o.payload->>'urgency' AS urgency, {_LANE} AS lane, count(*) AS n
      FROM outbox o JOIN tasks t ON t.id = o.task_id
     WHERE o.published_at IS NULL AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
     GROUP BY 1, 2, 3
    """  # noqa: S608 - status literals from the enums
)

_PICK = text(
    f"""
    SELECT o.id, o.task_id, o.payload
      FROM outbox o JOIN tasks t ON t.id = o.task_id
     WHERE o.published_at IS NULL AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
       AND t.tenant = :tenant AND o.payload->>'urgency' = :urgency AND {_LANE} = :lane
     ORDER BY o.id
     LIMIT :n
       FOR UPDATE OF o SKIP LOCKED
    """  # noqa: S608 - status literals from the enums, values bound
)

#: Held rows of tasks that ended (cancelled, failed) are never released: settled unpublished.
_SETTLE_ENDED = text(
    f"""
    UPDATE outbox o SET published_at = now()
      FROM tasks t
     WHERE t.id = o.task_id AND o.published_at IS NULL
       AND t.status IN ({sql_list(TERMINAL_TASK_STATUSES)})
    """  # noqa: S608 - status literals from the enums
)

_HELD_BY_TENANT = text(
    f"""
    SELECT t.tenant, count(*) AS n
      FROM outbox o JOIN tasks t ON t.id = o.task_id
     WHERE o.published_at IS NULL AND t.status IN ({sql_list(ACTIVE_TASK_STATUSES)})
     GROUP BY t.tenant
    """  # noqa: S608 - status literals from the enums
)

#: Can a just-committed row go out at once? Only when it is the only held row and no tenant
#: has a running limit (then there is no turn to take).
_ALONE = text(
    """
    SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL AND id <> :id)
       AND NOT EXISTS (SELECT 1 FROM tenant_limits
                        WHERE max_running IS NOT NULL OR max_running_per_arm IS NOT NULL)
    """
)
_ANY_HELD = text("SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)")

_PASSES = text("SELECT tenant, pass FROM fair_passes WHERE urgency = :urgency")
_SAVE_PASS = text(
    "INSERT INTO fair_passes (tenant, urgency, pass) VALUES (:tenant, :urgency, :pass) "
    "ON CONFLICT (tenant, urgency) DO UPDATE SET pass = EXCLUDED.pass"
)
_MARK = text("UPDATE outbox SET published_at = now() WHERE id = :id AND published_at IS NULL")


def try_lock(session: Session) -> bool:
    """Become the dispatcher for this transaction, unless another one is (then ``False``)."""
    return bool(session.execute(_TRY_LOCK, {"key": _LOCK_KEY}).scalar_one())


def alone(conn: Session | Connection, outbox_id: int) -> bool:
    """May the row be published without a turn (see ``_ALONE``)?"""
    return bool(conn.execute(_ALONE, {"id": outbox_id}).scalar_one())


def any_held(conn: Session | Connection) -> bool:
    return bool(conn.execute(_ANY_HELD).scalar_one())


def held(session: Session) -> Sequence[Any]:
    """Held canvases of live tasks: rows of ``tenant, urgency, lane, n``."""
    return session.execute(_HELD).all()


def held_by_tenant(conn: Session | Connection) -> dict[str, int]:
    return {row.tenant: int(row.n) for row in conn.execute(_HELD_BY_TENANT)}


def pick(session: Session, tenant: str, urgency: str, lane: str, n: int) -> Sequence[Any]:
    """The tenant's ``n`` oldest held canvases of that urgency and lane, locked: rows of
    ``id, task_id, payload``."""
    return session.execute(
        _PICK, {"tenant": tenant, "urgency": urgency, "lane": lane, "n": n}
    ).all()


def mark_released(session: Session, outbox_id: int) -> None:
    session.execute(_MARK, {"id": outbox_id})


def settle_ended(session: Session) -> int:
    return int(session.execute(_SETTLE_ENDED).rowcount)  # type: ignore[attr-defined]


def passes(session: Session, urgency: str) -> dict[str, float]:
    return {
        row.tenant: float(row._mapping["pass"])
        for row in session.execute(_PASSES, {"urgency": urgency})
    }


def save_passes(session: Session, urgency: str, values: dict[str, float]) -> None:
    if values:
        session.execute(
            _SAVE_PASS,
            [{"tenant": t, "urgency": urgency, "pass": v} for t, v in values.items()],
        )
