"""The fair dispatcher: held canvases are released to the broker fairly between tenants.

With ``orchestrator.fair_dispatch`` on, a committed outbox row is not published by the
process that wrote it; it is *held* (a row, ``published_at`` still empty) until a dispatcher
pass releases it. A pass:

1. takes the database-wide advisory lock (``pg_try_advisory_xact_lock``; a pass that finds it
   taken does nothing: the pass holding it, or the next trigger, does the work);
2. reads the held canvases of live tasks by urgency, lane (the queues its first messages go
   to: its first step's arm) and tenant, and the depth of each lane's queue per urgency;
3. urgency by urgency, most urgent first, fills each lane's queue up to
   ``orchestrator.fair_window`` messages, choosing tenants by **stride scheduling**: each
   tenant has a virtual time per urgency (``fair_passes``), the tenant with the smallest goes
   next and advances by ``1 / weight``; a tenant that (re)appears starts at the urgency's
   current virtual time, so it neither waits for the backlog nor jumps it with saved credit;
4. skips tenants at their running-steps limit (overall or on the lane's arm): released,
   unfinished steps are counted conservatively (every step of a released canvas counts until
   it ends), so a tenant never has more running than its limit (a canvas with more steps than
   the limit is released only when the tenant has nothing else in flight);
5. publishes each chosen canvas (fresh capability tokens, ``dispatch``) and marks its row
   released, in the pass's transaction.

Passes are triggered after every commit that writes an outbox row (submit, plan expansion,
repair, re-drive: ``lifecycle.publish_quietly``; a canvas with no other held row and room in
its queue goes out at once), after a step delivery on a worker when a queue with held work
behind it fell to half its window (``after_step``: one pass refills it in a batch), and
periodically (celery beat ``octollm.dispatch``, and each reconciler pass). Durability is the
outbox's: a pass that dies before its commit leaves its rows held, and the next pass releases
them again; one that dies between publish and commit publishes a canvas twice, which the
step claim makes harmless (a duplicate delivery does nothing).

What fairness covers: each *canvas* is scheduled when it becomes ready (a task's planning
step; its plan's steps once planned; a repair round; a re-drive). The later levels of a
released multi-level canvas follow by Celery's own chaining, not through the dispatcher.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

import structlog

from octollm.contracts.status import URGENCY_ORDER
from octollm.orchestrator.broker.queues import CONTROL_ARM, QUARANTINE_ARM
from octollm.orchestrator.engine import dispatch
from octollm.orchestrator.recovery import backlog
from octollm.orchestrator.runtime import Runtime
from octollm.store import fair_queue
from octollm.store import tenant_limits as limits_repo
from octollm.store.tenant_limits import Limits

log = structlog.get_logger(__name__)

#: The urgency's global virtual time is stored as this pseudo-tenant's pass.
CLOCK = "*"


def enabled(rt: Runtime) -> bool:
    return bool(rt.settings.orchestrator.fair_dispatch)


def kick(rt: Runtime, *, periodic: bool = False) -> int:
    """A dispatcher pass that never raises (a trigger: the periodic pass catches up).
    ``periodic``: also settle the held rows of tasks that ended meanwhile."""
    try:
        return release(rt, settle=periodic)
    except Exception as exc:  # noqa: BLE001 - held rows stay held; the next pass releases them
        log.warning("fair_dispatch_failed", error=str(exc)[:300])
        return 0


#: The queues (lane, urgency) this process's last pass saw held work for, and when.
_seen: tuple[float, frozenset[tuple[str, str]]] = (0.0, frozenset())
SEEN_FRESH_SECONDS = 1.0


def after_step(rt: Runtime) -> int:
    """The trigger after a step delivery on a worker: a pass only when a queue with held work
    behind it has fallen to half its window (or this process has not looked for a second),
    so that a pass refills it in one batch instead of one pass per step."""
    at, lanes = _seen
    if lanes and time.monotonic() - at < SEEN_FRESH_SECONDS:
        low = max(1, rt.settings.orchestrator.fair_window // 2)
        depths = backlog.lane_depths(rt, {lane for lane, _ in lanes})
        if depths is not None and all(depths.get(key, 0) >= low for key in lanes):
            return 0
    return kick(rt)


def lane_of(payload: dict[str, Any]) -> str:
    """The queues a canvas's first message goes to (as ``store.fair_queue``'s ``_LANE``)."""
    steps = payload.get("steps") or []
    if not steps:
        return CONTROL_ARM
    return QUARANTINE_ARM if steps[0].get("quarantine") else str(steps[0]["arm"])


def after_commit(rt: Runtime, outbox: dispatch.Outbox) -> None:
    """Release a just-committed canvas: at once when no tenant is waiting for a turn (it is
    the only held row, its lane has room, no running limits are set), else by a pass. Never
    raises: the row stays held for the next pass.

    Published at once, the row is marked after the publish (as without fair dispatch): a pass
    that picks it up in between publishes it a second time, which its claim makes harmless."""
    try:
        urgency, lane = str(outbox.payload["urgency"]), lane_of(outbox.payload)
        depths = backlog.lane_depths(rt, [lane], urgency)
        if depths is None:
            return
        if depths.get((lane, urgency), 0) >= rt.settings.orchestrator.fair_window:
            return  # the lane is full: a step that finishes there makes room and a pass
        with rt.db.autocommit() as conn:
            alone = fair_queue.alone(conn, outbox.id)
        if alone:
            dispatch.publish(rt.db, rt.app, rt.target, outbox)
            return
    except Exception as exc:  # noqa: BLE001 - held rows stay held; the next pass releases them
        log.warning("fair_dispatch_failed", error=str(exc)[:300])
        return
    kick(rt)


def stride_order(
    counts: dict[str, int],
    weights: dict[str, float],
    passes: dict[str, float],
    clock: float,
    n: int,
) -> tuple[list[str], dict[str, float], float]:
    """Pick up to ``n`` tenants' turns (a tenant at most ``counts[t]`` times) by stride
    scheduling; returns the picks in order, the new passes and the new clock."""
    remaining = {t: c for t, c in counts.items() if c > 0}
    current = {t: max(passes.get(t, clock), clock) for t in remaining}
    order: list[str] = []
    while len(order) < n and remaining:
        tenant = min(remaining, key=lambda t: (current[t], t))
        order.append(tenant)
        clock = current[tenant]
        current[tenant] += 1.0 / max(weights.get(tenant, 1.0), 1e-6)
        remaining[tenant] -= 1
        if remaining[tenant] == 0:
            del remaining[tenant]
    return order, current, clock


class _Budget:
    """Released, unfinished steps of the tenants with a running limit, kept up to date as a
    pass releases canvases."""

    def __init__(self, limits: dict[str, Limits], in_flight: dict[str, dict[str, int]]) -> None:
        self.limits = limits
        self.by_arm = {t: dict(in_flight.get(t, {})) for t in limits}

    def _total(self, tenant: str) -> int:
        return sum(self.by_arm.get(tenant, {}).values())

    def blocked(self, tenant: str, arm: str) -> bool:
        """At its limit already: no canvas of this tenant on this lane now."""
        lim = self.limits.get(tenant)
        if lim is None:
            return False
        if lim.max_running is not None and self._total(tenant) >= lim.max_running:
            return True
        per_arm = lim.max_running_per_arm
        return per_arm is not None and self.by_arm[tenant].get(arm, 0) >= per_arm

    def admit(self, tenant: str, arms: list[str]) -> bool:
        """Count a canvas of steps on ``arms`` if it fits (or the tenant has nothing in flight)."""
        lim = self.limits.get(tenant)
        if lim is None:
            return True
        mine = self.by_arm[tenant]
        idle = self._total(tenant) == 0
        fits = lim.max_running is None or self._total(tenant) + len(arms) <= lim.max_running
        if lim.max_running_per_arm is not None:
            for arm in set(arms):
                if mine.get(arm, 0) + arms.count(arm) > lim.max_running_per_arm:
                    fits = False
        if not (fits or idle):
            return False
        for arm in arms:
            mine[arm] = mine.get(arm, 0) + 1
        return True


def release(rt: Runtime, *, settle: bool = True) -> int:
    """One dispatcher pass; returns how many canvases it released. ``settle``: first mark the
    held rows of tasks that ended as released (they would never run)."""
    window = rt.settings.orchestrator.fair_window
    released = 0
    if not settle:
        with rt.db.autocommit() as conn:  # the common case after a step: nothing is held
            if not fair_queue.any_held(conn):
                return 0
    with rt.db.session() as session:
        if not fair_queue.try_lock(session):
            return 0
        if settle:
            fair_queue.settle_ended(session)
        held = fair_queue.held(session)
        global _seen  # a per-process hint for ``after_step``, nothing more
        _seen = (time.monotonic(), frozenset((row.lane, row.urgency) for row in held))
        if not held:
            return 0
        work: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for row in held:
            work[row.urgency][row.lane][row.tenant] = int(row.n)
        depths = backlog.lane_depths(rt, {row.lane for row in held})
        if depths is None:
            return 0
        limits = limits_repo.all_limits(session)
        weights = {t: lim.weight for t, lim in limits.items()}
        limited = {
            t: lim
            for t, lim in limits.items()
            if lim.max_running is not None or lim.max_running_per_arm is not None
        }
        budget = _Budget(limited, limits_repo.in_flight(session, sorted(limited)))
        for urgency in (u.value for u in URGENCY_ORDER):
            if urgency not in work:
                continue
            passes = fair_queue.passes(session, urgency)
            clock = passes.get(CLOCK, 0.0)
            changed: dict[str, float] = {}
            for lane, by_tenant in sorted(work[urgency].items()):
                room = window - depths.get((lane, urgency), 0)
                if room <= 0:
                    continue
                open_ = {t: n for t, n in by_tenant.items() if not budget.blocked(t, lane)}
                order, after, clock = stride_order(
                    open_, weights, {**passes, **changed}, clock, room
                )
                for tenant in set(order):
                    changed[tenant] = after[tenant]
                released += _publish(rt, session, urgency, lane, order, budget)
            changed[CLOCK] = clock
            fair_queue.save_passes(session, urgency, changed)
    return released


def _publish(
    rt: Runtime, session: Any, urgency: str, lane: str, order: list[str], budget: _Budget
) -> int:
    """Publish the chosen tenants' oldest held canvases, interleaved in ``order``."""
    wanted: dict[str, int] = defaultdict(int)
    for tenant in order:
        wanted[tenant] += 1
    rows = {t: deque(fair_queue.pick(session, t, urgency, lane, n)) for t, n in wanted.items()}
    released = 0
    for tenant in order:
        if not rows[tenant]:
            continue
        row = rows[tenant].popleft()
        arms = [str(s["arm"]) for s in row.payload["steps"]]
        if not budget.admit(tenant, arms):
            rows[tenant].clear()  # the tenant reached its limit: the rest stays held
            continue
        outbox = dispatch.Outbox(int(row.id), str(row.task_id), dict(row.payload))
        dispatch.publish_in(session, rt.app, rt.target, outbox)
        fair_queue.mark_released(session, outbox.id)
        released += 1
    return released
