"""``octollm.arm.call``: one arm-to-arm call, run on the callee's queue (see
``orchestrator.arm_call``). At most once: no ``acks_late``; the caller retries a lost call."""

from __future__ import annotations

from typing import Any

from celery import Task

from octollm.orchestrator.broker.app import app
from octollm.orchestrator.calls import callee as arm_callee
from octollm.orchestrator.calls.caller import CALL_TASK
from octollm.orchestrator.runtime import get_runtime
from octollm.security.capability import TOKEN_HEADER


@app.task(name=CALL_TASK, bind=True, acks_late=False, ignore_result=True)
def call_arm(
    self: Task,
    call_id: str,
    arm: str,
    key: str,
    task_id: str,
    step_id: str,
    generation: int,
) -> dict[str, Any]:
    token = dict(self.request.headers or {}).get(TOKEN_HEADER)
    outcome = arm_callee.answer(
        get_runtime(app),
        token,
        call_id,
        arm,
        key,
        task_id,
        step_id,
        int(generation),
        message_id=self.request.id,
    )
    return {"call_id": call_id, "outcome": outcome}
