"""The operator commands, run as a shell runs them, against a live stack with real workers:
``tasks list|show|cancel|resume|retry``, ``status``/``show --dag``, ``deadletters
list|show|replay``, ``queues`` and ``queues purge``, ``arms`` and ``workers``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts.task import Budget, TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.store import arm_registry
from tests.support.stack import LiveStack, step_status, wait_for_task, wait_until

# About twenty CLI processes, each importing octollm: slow on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(600)


def cli(stack: LiveStack, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", *args],
        env=stack.env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if ok:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def test_the_operator_commands_against_a_live_fleet(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    stack.start_fleet(["orchestrator", "echo", "flaky", "sleep"])
    chain = {"steps": [
        {"step_id": "a", "arm": "echo", "action": "first"},
        {"step_id": "b", "arm": "echo", "action": "second", "depends_on": ["a"]},
    ]}  # fmt: skip
    done = lifecycle.submit(
        runtime, TaskContract(goal="a two-step chain", plan=chain), tenant="acme"
    )
    assert wait_for_task(runtime, done.id, timeout=60).status == "completed"

    listed = json.loads(cli(stack, "tasks", "list", "--tenant", "acme", "--json").stdout)
    assert [t["task_id"] for t in listed] == [done.id]
    assert cli(stack, "tasks", "list", "--tenant", "nobody").stdout.strip() == "no tasks"
    shown = cli(stack, "show", done.id, "--dag").stdout
    assert "plan DAG" in shown
    assert "[b] succeeded ← a" in shown
    record = json.loads(cli(stack, "status", done.id, "--json").stdout)
    assert record["status"] == "completed"
    assert record["tenant"] == "acme"
    assert cli(stack, "status", done.id, "--tenant", "other", ok=False).returncode == 1

    # cancel a running task, resume it, retry the finished one as a new task
    slow = {"steps": [{"step_id": "s", "arm": "sleep", "action": "wait", "input": {"seconds": 30}}]}
    sleeping = lifecycle.submit(runtime, TaskContract(goal="a slow task", plan=slow))
    wait_until(lambda: step_status(runtime, sleeping.id, "s") == "running", 30, "sleep running")
    assert "cancel" in cli(stack, "tasks", "cancel", sleeping.id).stdout
    assert wait_for_task(runtime, sleeping.id, timeout=30).status == "cancelled"
    again = cli(stack, "tasks", "cancel", sleeping.id, ok=False)
    assert again.returncode == 1
    assert "error:" in again.stderr
    cli(stack, "tasks", "resume", sleeping.id)
    wait_until(lambda: step_status(runtime, sleeping.id, "s") == "running", 30, "resumed")
    cli(stack, "tasks", "cancel", sleeping.id)
    retried = cli(stack, "tasks", "retry", done.id).stdout.strip()
    assert retried.startswith("task-")
    assert retried != done.id
    assert wait_for_task(runtime, retried, timeout=60).status == "completed"

    # a dead letter: listed, shown, replayed once its cause is fixed
    calls, fixed = tmp_path / "calls", tmp_path / "fixed"
    flaky_input = {"counter_file": str(calls), "fixed_file": str(fixed)}
    flaky = {"steps": [{"step_id": "f", "arm": "flaky", "action": "x", "input": flaky_input}]}
    failing = lifecycle.submit(
        runtime, TaskContract(goal="fails until fixed", plan=flaky, budget=Budget(max_retries=0))
    )
    assert wait_for_task(runtime, failing.id, timeout=60).status == "failed"
    letters = json.loads(cli(stack, "deadletters", "list", "--task", failing.id, "--json").stdout)
    assert [(d["step_id"], d["reason"]) for d in letters] == [("f", "exhausted")]
    letter = json.loads(cli(stack, "deadletters", "show", str(letters[0]["id"])).stdout)
    assert letter["error"]["code"] == "TRANSIENT_ERROR"
    fixed.touch()
    cli(stack, "deadletters", "replay", str(letter["id"]))
    assert wait_for_task(runtime, failing.id, timeout=60).status == "completed"

    # the fleet as Celery users inspect it
    depths = json.loads(cli(stack, "queues", "--json").stdout)
    assert {"arm": "echo", "urgency": "medium"} in [
        {"arm": q["arm"], "urgency": q["urgency"]} for q in depths
    ]
    assert "purged" in cli(stack, "queues", "purge", "echo", "--yes").stdout
    arms = json.loads(cli(stack, "arms", "--json").stdout)
    echo = next(a for a in arms if a["arm"] == "echo")
    assert echo["health"] == "healthy"
    # an arm registered through the API for one tenant: listed for that tenant only
    with runtime.db.session() as session:
        arm_registry.upsert(session, "acme-ocr", ["ocr"], tenant="acme")
    assert "acme-ocr" not in {a["arm"] for a in arms}
    mine = json.loads(cli(stack, "arms", "--tenant", "acme", "--json").stdout)
    ocr = next(a for a in mine if a["arm"] == "acme-ocr")
    assert (ocr["registered"], ocr["installed"], ocr["capabilities"]) == (True, False, ["ocr"])
    theirs = json.loads(cli(stack, "arms", "--tenant", "other", "--json").stdout)
    assert "acme-ocr" not in {a["arm"] for a in theirs}
    workers = json.loads(cli(stack, "workers", "--json", "--timeout", "5").stdout)
    assert any("echo" in " ".join(w["queues"]) for w in workers)
