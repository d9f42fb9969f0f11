"""The task record the CLI prints (``--json``) and renders: task, result and every step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from octollm.orchestrator.runtime import Runtime
from octollm.store import rounds as round_repo
from octollm.store import steps as step_repo
from octollm.store import tasks as task_repo


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def task_record(rt: Runtime, task_id: str) -> dict[str, Any] | None:
    with rt.db.session() as session:
        task = task_repo.get(session, task_id)
        if task is None:
            return None
        # Repair rounds and replans re-use their steps' plan positions under a new generation:
        # show each generation's steps after the one before it.
        rows = sorted(
            step_repo.for_task(session, task_id), key=lambda r: (r.generation, r.position)
        )
        outputs = step_repo.outputs(session, task_id, [r.step_id for r in rows])
        rounds = [round_repo.view(r) for r in round_repo.for_task(session, task_id)]
    steps = []
    for r in rows:
        duration = (
            (r.finished_at - r.started_at).total_seconds() * 1000
            if r.finished_at and r.started_at
            else None
        )
        steps.append(
            {
                "step_id": r.step_id,
                "arm": r.arm,
                "action": r.action,
                "depends_on": list(r.depends_on),
                "critical": r.critical,
                "status": r.status,
                "attempts": r.attempts,
                "tokens": int(r.tokens_used),
                "queued_at": _iso(r.queued_at),
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
                "duration_ms": round(duration, 1) if duration is not None else None,
                "error": r.error,
                "output": outputs.get(r.step_id),
            }
        )
    result = task.result or {}
    return {
        "task_id": task.id,
        "tenant": task.tenant,
        "status": task.status,
        "goal": task.goal,
        "answer": result.get("answer"),
        "verdict": (result.get("verdict") or {}).get("status"),
        "priority": task.priority,
        "result": task.result,
        "rounds": rounds,
        "error": task.error,
        "tokens_used": int(task.tokens_used),
        "cost_usd": float(task.cost_usd),
        "created_at": _iso(task.created_at),
        "started_at": _iso(task.started_at),
        "finished_at": _iso(task.finished_at),
        "steps": steps,
    }
