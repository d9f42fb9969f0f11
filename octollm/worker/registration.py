"""A pool announces its arms: registration at worker start, heartbeats while it runs.

On ``worker_ready`` the worker works out which arms it serves from the queues it consumes
(``<prefix>.<arm>.<urgency>``), upserts each arm's ``ArmCapability`` into the durable registry
and starts a daemon thread that refreshes the arms' heartbeats in Redis every
``registry.heartbeat_seconds``; ``worker_shutdown`` stops it and withdraws the heartbeats, so
the arm turns unavailable at once instead of when the keys expire. Both are best effort: a
registry that cannot be reached never stops a worker from working (a warning is logged).

A worker of the ``quarantine`` pseudo-arm beats for its lane too (``lane_heartbeat``): the
reconciler sends suspects there only while such a heartbeat is live
(``orchestrator/recovery/isolation.py``).
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from celery.signals import worker_ready, worker_shutdown

from octollm.arms.registry import known_arms
from octollm.config import Settings, get_settings
from octollm.contracts.arm_capability import ArmCapability
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.registry import directory as arm_directory
from octollm.orchestrator.registry.catalog import capability_of
from octollm.store.db import Database

log = structlog.get_logger(__name__)

_stop = threading.Event()
_state: dict[str, Any] = {}


def served_arms(queue_names: list[str], prefix: str) -> list[str]:
    """The arms behind a worker's queues (``<prefix>.<arm>[.<urgency>]``), known ones only."""
    installed = known_arms()
    found = []
    for name in queue_names:
        if not name.startswith(f"{prefix}."):
            continue
        arm = name[len(prefix) + 1 :].split(".")[0]
        if arm in installed and arm != routing.CONTROL_ARM and arm not in found:
            found.append(arm)
    return found


def served_lanes(queue_names: list[str], prefix: str) -> list[str]:
    """The pseudo-arm lanes behind a worker's queues: ``<prefix>.quarantine``, or nothing
    (named with the prefix: deployments sharing a Redis have their own lanes)."""
    lane = routing.quarantine_lane(prefix)
    if any(name == lane or name.startswith(f"{lane}.") for name in queue_names):
        return [lane]
    return []


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    settings = get_settings()
    try:
        queues = list(sender.app.amqp.queues.consume_from)
    except AttributeError:
        return
    arms = served_arms(queues, settings.queue_prefix)
    lanes = served_lanes(queues, settings.queue_prefix)
    if not arms and not lanes:
        return
    worker = str(getattr(sender, "hostname", "") or "worker")
    if "executor" in arms:
        _report_sandbox_limits()
    caps: list[ArmCapability] = []
    for arm in arms:
        try:
            caps.append(capability_of(arm))
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the pool
            log.warning("arm_capability_unknown", arm=arm, error=str(exc)[:200])
    if caps:
        _register(settings, caps, worker.partition("@")[0], arms)
    directory = arm_directory.directory_for(settings)
    if directory is None:
        return
    _state.update(directory=directory, worker=worker, arms=[c.arm for c in caps], lanes=lanes)
    _stop.clear()
    thread = threading.Thread(
        target=_beat,
        args=(directory, worker, caps, lanes, settings.registry.heartbeat_seconds),
        name="octollm-arm-heartbeat",
        daemon=True,
    )
    thread.start()
    log.info("arms_registered", arms=[c.arm for c in caps], lanes=lanes, worker=worker)


def _register(settings: Settings, caps: list[ArmCapability], pool: str, arms: list[str]) -> None:
    try:
        db = Database(settings.require_database_url())
        try:
            arm_directory.register(db, caps, pool)
        finally:
            db.dispose()
    except Exception as exc:  # noqa: BLE001 - best effort: the heartbeats still go out
        log.warning("arm_registration_failed", arms=arms, error=str(exc)[:200])


def _report_sandbox_limits() -> None:
    """Say once, at start, how the executor sandbox's per-run limits hold on this host."""
    from octollm.security.sandbox import per_run_limits

    mode, reason = per_run_limits()
    if mode == "rlimits":
        log.warning(
            "sandbox_limits_per_process",
            reason=reason,
            detail="no usable cgroup: memory and process limits hold per process, not per run",
        )
    else:
        log.info("sandbox_limits_per_run", mode=mode)


def _beat(
    directory: arm_directory.ArmDirectory,
    worker: str,
    caps: list[ArmCapability],
    lanes: list[str],
    every: float,
) -> None:
    while not _stop.is_set():
        try:
            if caps:
                directory.heartbeat(worker, caps)
            if lanes:
                directory.lane_heartbeat(worker, lanes)
        except Exception as exc:  # noqa: BLE001 - Redis away: try again next interval
            log.warning("arm_heartbeat_failed", error=str(exc)[:200])
        _stop.wait(every)


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _stop.set()
    directory = _state.pop("directory", None)
    if directory is None:
        return
    try:
        directory.withdraw(_state.pop("worker"), _state.pop("arms"), _state.pop("lanes", []))
    except Exception as exc:  # noqa: BLE001 - the keys expire on their own
        log.warning("arm_withdraw_failed", error=str(exc)[:200])
