"""Workers that die mid-step: SIGKILL of a thread-pool worker, of a prefork child, and a poison
step that kills its own process every time. Real workers, Redis and Postgres.

Repairs come from two places: a prefork parent requeues the message of a child that died
(``task_reject_on_worker_lost``) and the redelivery takes the step over once its lease expires;
a whole worker that dies leaves its message unacknowledged in Redis for the visibility timeout
(hours), so the reconciler re-drives the step from Postgres when its lease expires. The tests
run reconciler passes in a thread (what celery beat does in production).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import deadletters
from octollm.store import idempotency
from octollm.store.api_models import IdempotencyKeyRow
from octollm.store.models import StepResultRow, TaskRow
from tests.support.apiserver import api_server, echo_plan, headers, make_key
from tests.support.arms import tallied
from tests.support.stack import LiveStack, reconciling, steps_of, wait_for_task, wait_until

# these tests kill workers (and start replacements under the same name): their own stack
pytestmark = pytest.mark.own_stack


def _running(rt: Any, task_id: str, step_id: str) -> Any:
    row = steps_of(rt, task_id)[step_id]
    return row if row.status == "running" and row.lease_owner else None


def _result_rows(rt: Any, task_id: str, step_id: str) -> int:
    with rt.db.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StepResultRow)
                .where((StepResultRow.task_id == task_id) & (StepResultRow.step_id == step_id))
            )
            or 0
        )


def _task_status(rt: Any, task_id: str) -> str:
    with rt.db.session() as session:
        row = session.get(TaskRow, task_id)
        assert row is not None
        return row.status


def _sleep_plan(seconds: float) -> dict[str, Any]:
    return {
        "steps": [
            {"step_id": "before", "arm": "echo", "action": "first"},
            {
                "step_id": "long",
                "arm": "sleep",
                "action": "sleeps",
                "depends_on": ["before"],
                "input": {"seconds": seconds},
            },
            {"step_id": "after", "arm": "echo", "action": "last", "depends_on": ["long"]},
        ]
    }


def test_a_killed_thread_pool_worker_does_not_lose_its_step(stack: LiveStack, runtime: Any) -> None:
    stack.start_fleet(["orchestrator", "echo"])
    victim = stack.start_worker(["sleep"], pool="threads", name="sleep-victim")
    task = lifecycle.submit(
        runtime, TaskContract(goal="survive a killed worker", plan=_sleep_plan(2))
    )
    wait_until(lambda: _running(runtime, task.id, "long"), 20, "the sleep step running")
    victim.kill(signal.SIGKILL)  # the whole worker: its message stays unacked in Redis
    stack.start_worker(["sleep"], pool="threads", name="sleep-replacement")
    with reconciling(runtime) as reports:
        row = wait_for_task(runtime, task.id, timeout=30)
    assert row.status == "completed", row.error
    long = steps_of(runtime, task.id)["long"]
    assert long.attempts == 2, "the redelivery is counted"
    assert _result_rows(runtime, task.id, "long") == 1
    assert any(task.id in getattr(r, "redriven", []) for r in reports)
    assert row.result["steps"]["after"]["received"]["long"] == {"slept": 2}


def test_a_killed_prefork_child_is_redelivered_and_its_step_runs_once_more(
    stack: LiveStack, runtime: Any
) -> None:
    stack.start_fleet(["orchestrator", "echo"])
    stack.start_worker(["sleep"], pool="prefork", concurrency=1, name="sleep-prefork")
    task = lifecycle.submit(
        runtime, TaskContract(goal="survive a killed child", plan=_sleep_plan(2))
    )
    running = wait_until(lambda: _running(runtime, task.id, "long"), 20, "the sleep step running")
    child_pid = int(running.lease_owner.rpartition(":")[2])
    os.kill(child_pid, signal.SIGKILL)  # the parent survives and requeues the message
    # No reconciler here: the requeued message waits out the dead child's lease, then claims.
    row = wait_for_task(runtime, task.id, timeout=30)
    assert row.status == "completed", row.error
    long = steps_of(runtime, task.id)["long"]
    assert long.attempts == 2
    assert long.lease_owner is None
    assert _result_rows(runtime, task.id, "long") == 1
    assert row.result["steps"]["long"] == {"slept": 2}


def test_a_poison_step_is_dead_lettered_after_its_attempts_while_other_tasks_flow(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    stack.start_fleet(["orchestrator", "echo"])
    stack.start_worker(["poison"], pool="prefork", concurrency=1, name="poison")
    counter = tmp_path / "poison.calls"
    poison_plan = {
        "steps": [
            {
                "step_id": "p",
                "arm": "poison",
                "action": "dies",
                "input": {"counter_file": str(counter)},
            },
            {"step_id": "never", "arm": "echo", "action": "unreached", "depends_on": ["p"]},
        ]
    }
    poisoned = lifecycle.submit(
        runtime,
        TaskContract(
            goal="a step that kills its worker", plan=poison_plan, budget=Budget(max_retries=1)
        ),
    )
    chain = {
        "steps": [
            {"step_id": f"e{i}", "arm": "echo", "action": "flows", "input": {"sleep": 0.2}}
            | ({"depends_on": [f"e{i - 1}"]} if i else {})
            for i in range(4)
        ]
    }
    with reconciling(runtime):
        wait_until(lambda: len(tallied(counter)) >= 1, 20, "the poison step starting")
        healthy = lifecycle.submit(
            runtime, TaskContract(goal="a task that keeps flowing", plan=chain)
        )
        done = wait_for_task(runtime, healthy.id, timeout=20)
        assert done.status == "completed", done.error
        assert _task_status(runtime, poisoned.id) == "processing", "poison step stopped early"
        failed = wait_for_task(runtime, poisoned.id, timeout=30)
    assert failed.status == "failed"
    assert failed.error["code"] == "REDELIVERY_LIMIT"
    # Two attempts (max_retries=1), each counted in Postgres before the arm ran: the arm saw
    # attempt 1, then attempt 2, and never ran a third time.
    assert [line.split()[1] for line in tallied(counter)] == ["1", "2"]
    steps = steps_of(runtime, poisoned.id)
    assert (steps["p"].status, steps["p"].attempts) == ("failed", 2)
    assert steps["never"].status == "skipped"
    (letter,) = deadletters.list_dead_letters(
        runtime, deadletters.DeadLetterFilter(task_id=poisoned.id)
    )
    assert (letter.step_id, letter.reason, letter.attempts) == ("p", "poison", 2)
    assert letter.input_ref["step_id"] == "p"
    assert letter.created_at > done.finished_at


def _key_claimed(rt: Any, tenant: str, key: str) -> bool:
    with rt.db.session() as session:
        return session.get(IdempotencyKeyRow, (tenant, key)) is not None


def test_an_api_killed_between_the_key_claim_and_the_task_insert_frees_the_key_within_seconds(
    stack: LiveStack, runtime: Any
) -> None:
    key = make_key(stack, "acme")
    body = {"goal": "submitted by a process about to die", "plan": echo_plan(1)}
    sent = headers(key, **{"Idempotency-Key": "dies-mid-submit"})
    stack.extra_env[idempotency.PAUSE_ENV] = "60"  # the doomed API stops after its claim
    with api_server(stack, name="api-doomed") as doomed:

        def post_and_hang() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the process dies under the request
                httpx.post(f"{doomed.url}/api/v1/tasks", json=body, headers=sent, timeout=90)

        threading.Thread(target=post_and_hang, daemon=True).start()
        wait_until(lambda: _key_claimed(runtime, "acme", "dies-mid-submit"), 20, "the claim")
        os.killpg(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(5)
    del stack.extra_env[idempotency.PAUSE_ENV]
    with api_server(stack, name="api-next") as api:
        killed_at = time.monotonic()

        def accepted() -> httpx.Response | None:
            resp = httpx.post(f"{api.url}/api/v1/tasks", json=body, headers=sent, timeout=10)
            assert resp.status_code in (202, 409), resp.text
            return resp if resp.status_code == 202 else None

        first = wait_until(accepted, 10, "the same key accepted again")
        waited = time.monotonic() - killed_at
        again = httpx.post(f"{api.url}/api/v1/tasks", json=body, headers=sent, timeout=10)
    assert waited < 10
    assert again.status_code == 202
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.json()["idempotent_replay"] is True
    with runtime.db.session() as session:
        assert session.query(TaskRow).count() == 1


def _keep_running(stack: LiveStack, arms: list[str], stop: threading.Event) -> None:
    """A supervisor: start the shared pool again whenever it dies (as systemd would)."""
    current = stack.start_worker(arms, pool="threads", concurrency=4, name="shared-0")
    restarts = 0
    while not stop.wait(0.2):
        if current.proc.poll() is not None:
            restarts += 1
            current = stack.start_worker(
                arms, pool="threads", concurrency=4, name=f"shared-{restarts}"
            )


#: The acceptance's repetitions: which steps share the dying process varies from run to run.
POISON_RUNS = 5


def _poison_run(runtime: Any, counter: Path) -> tuple[Any, list[Any]]:
    """One run: 3 healthy tasks, the poison, 16 more healthy ones; wait for all 20."""
    healthy_plan = {
        "steps": [{"step_id": "h", "arm": "echo", "action": "ok", "input": {"sleep": 1}}]
    }
    poison_plan = {
        "steps": [
            {
                "step_id": "p",
                "arm": "poison",
                "action": "dies",
                "input": {"counter_file": str(counter)},
            }
        ]
    }

    def submit_healthy(numbers: range) -> list[Any]:
        return [
            lifecycle.submit(runtime, TaskContract(goal=f"healthy task {i}", plan=healthy_plan))
            for i in numbers
        ]

    healthy = submit_healthy(range(3))
    poisoned = lifecycle.submit(
        runtime,
        TaskContract(goal="kills its worker", plan=poison_plan, budget=Budget(max_retries=1)),
    )
    healthy += submit_healthy(range(3, 19))
    failed = wait_for_task(runtime, poisoned.id, timeout=120)
    return failed, [wait_for_task(runtime, t.id, timeout=120) for t in healthy]


@pytest.mark.timeout(420)  # five runs of twenty tasks, each with worker deaths
def test_on_a_threads_pool_a_poison_step_is_dead_lettered_and_its_co_residents_are_not(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    """One process runs the poison step next to healthy ones; each death takes them all.
    The co-residents are suspects, not culprits: they re-run in the quarantine lane (one
    prefork child, concurrency 1), and only a step that kills that isolated runner uses up
    its attempts. Five runs on one fleet (the acceptance's "5 runs"); each run's tasks are
    checked on their own."""
    stack.start_fleet(["orchestrator"])
    quarantine = stack.start_worker(
        ["quarantine"], pool="prefork", concurrency=1, name="quarantine"
    )
    stop = threading.Event()
    supervisor = threading.Thread(
        target=_keep_running, args=(stack, ["poison", "echo"], stop), daemon=True
    )
    supervisor.start()
    runs: list[tuple[Any, list[Any], Path]] = []
    try:
        with reconciling(runtime) as reports:
            for run in range(POISON_RUNS):
                counter = tmp_path / f"poison-{run}.calls"
                failed, rows = _poison_run(runtime, counter)
                runs.append((failed, rows, counter))
    finally:
        stop.set()
        supervisor.join(30)
    assert not [r for r in reports if isinstance(r, Exception)]
    suspects = 0
    isolated = [
        line for line in quarantine.log().splitlines() if '"event": "step_succeeded"' in line
    ]
    for failed, rows, counter in runs:
        assert failed.status == "failed"
        assert failed.error["code"] == "REDELIVERY_LIMIT"
        assert [r.status for r in rows] == ["completed"] * 19, [r.error for r in rows]
        # The deaths it shared with healthy steps were given back; alone, it died twice.
        assert steps_of(runtime, failed.id)["p"].attempts == 2
        assert len(tallied(counter)) >= 2
        for row in rows:
            step = steps_of(runtime, row.id)["h"]
            assert step.attempts == 1, "a co-resident's death was counted against it"
            if step.suspect:  # it re-ran in the quarantine lane
                suspects += 1
                assert any(row.id in line for line in isolated), row.id
    letters = deadletters.list_dead_letters(runtime, deadletters.DeadLetterFilter())
    assert sorted((d.task_id, d.step_id, d.reason) for d in letters) == sorted(
        (failed.id, "p", "poison") for failed, _, _ in runs
    )
    # The runs did put healthy steps in a dying process (else they would prove nothing).
    assert suspects > 0
