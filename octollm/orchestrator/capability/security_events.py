"""Security events an arm reports about its own work (the executor's sandbox: a run killed at
its memory limit, a refused fork, a refused system call), appended to ``security_events``.

An arm stays free of I/O: it names the event in an error's ``details["security_event"]`` or
lists ``{"kind", ...}`` objects under its output's ``security_events``; the step runner calls
``record`` with either, and this module writes the rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from octollm.errors import OctoError
from octollm.orchestrator.runtime import Runtime
from octollm.store import claims, security_events

log = structlog.get_logger(__name__)


def reported(error: OctoError | None, output: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The events an arm's error or output names (each a dict with ``kind``)."""
    found: list[dict[str, Any]] = []
    if error is not None and isinstance(error.details.get("security_event"), str):
        details = {k: v for k, v in error.details.items() if k != "security_event"}
        found.append({"kind": error.details["security_event"], "message": error.message, **details})
    listed = output.get("security_events") if output is not None else None
    if isinstance(listed, list):
        found += [e for e in listed if isinstance(e, dict) and isinstance(e.get("kind"), str)]
    return found


def record(
    rt: Runtime,
    claim: claims.Claim,
    error: OctoError | None = None,
    output: Mapping[str, Any] | None = None,
) -> None:
    """Append one row per reported event; never fails the step (logged instead)."""
    events = reported(error, output)
    if not events:
        return
    try:
        with rt.db.autocommit() as conn:
            for event in events:
                kind = str(event["kind"])[:32]
                details = {k: v for k, v in event.items() if k != "kind"}
                log.warning("sandbox_security_event", kind=kind)
                security_events.record(
                    conn, kind=kind, task_id=claim.task_id, step_id=claim.step_id,
                    generation=claim.generation, arm=claim.arm, worker=rt.owner, details=details,
                )  # fmt: skip
    except Exception:
        log.exception("security_event_not_recorded")
