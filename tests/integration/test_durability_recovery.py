"""Failing well and coming back: retries with backoff into the dead-letter store, replay,
resume from a failed step, cancellation of a running task. Real workers, Redis, Postgres."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.errors import Conflict
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import deadletters
from octollm.orchestrator.recovery.deadletters import DeadLetterFilter
from tests.support.arms import tallied
from tests.support.stack import LiveStack, steps_of, wait_for_task, wait_until


def test_a_step_that_keeps_failing_transiently_is_dead_lettered_then_replayed_to_completion(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    stack.extra_env.update(
        OCTOLLM_ORCHESTRATOR__RETRY_BACKOFF_BASE_SECONDS="0.4",
        OCTOLLM_ORCHESTRATOR__RETRY_BACKOFF_MAX_SECONDS="4",
    )
    stack.start_fleet(["orchestrator", "echo", "flaky"])
    calls, fixed = tmp_path / "flaky.calls", tmp_path / "fixed"
    plan = {
        "steps": [
            {"step_id": "a", "arm": "echo", "action": "first"},
            {
                "step_id": "f",
                "arm": "flaky",
                "action": "fails until fixed",
                "depends_on": ["a"],
                "input": {"counter_file": str(calls), "fixed_file": str(fixed)},
            },
            {"step_id": "z", "arm": "echo", "action": "last", "depends_on": ["f"]},
        ]
    }
    task = lifecycle.submit(
        runtime,
        TaskContract(goal="a flaky dependency", plan=plan, budget=Budget(max_retries=2)),
    )
    failed = wait_for_task(runtime, task.id, timeout=30)
    assert failed.status == "failed"
    assert failed.error["code"] == "TRANSIENT_ERROR"
    # three attempts (1 + max_retries), each one later than the last by at least its backoff
    # (base 0.4 s doubling, jitter 0.5x..1.5x)
    attempts = [line.split() for line in tallied(calls)]
    assert [a for _, a in attempts] == ["1", "2", "3"]
    times = [float(t) for t, _ in attempts]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.2, gaps
    assert gaps[1] >= 0.4, gaps
    (letter,) = deadletters.list_dead_letters(runtime, DeadLetterFilter(task_id=task.id))
    assert (letter.step_id, letter.reason, letter.attempts) == ("f", "exhausted", 3)
    assert letter.error["code"] == "TRANSIENT_ERROR"
    assert letter.replay_count == 0
    assert steps_of(runtime, task.id)["z"].status == "skipped"

    fixed.touch()  # the cause is fixed
    replayed = deadletters.replay(runtime, letter.id, by="oncall@example.com")
    assert replayed.replay_count == 1
    assert replayed.replayed_by == "oncall@example.com"
    assert replayed.replayed_at is not None
    done = wait_for_task(runtime, task.id, timeout=30)
    assert done.status == "completed", done.error
    steps = steps_of(runtime, task.id)
    assert steps["f"].attempts == 1, "the replay starts the attempt count afresh"
    assert steps["a"].attempts == 1, "finished steps are not run again"
    assert done.result["steps"]["z"]["received"]["f"]["calls"] == 4
    with pytest.raises(Conflict, match="succeeded since"):
        deadletters.replay(runtime, letter.id, by="twice")
    assert deadletters.replay_matching(runtime, DeadLetterFilter(task_id=task.id)).replayed == []


def test_resume_after_a_failure_reruns_only_the_failed_step_and_its_dependants(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    stack.start_fleet(["orchestrator", "echo", "flaky"])
    tally, calls, fixed = tmp_path / "echo.calls", tmp_path / "flaky.calls", tmp_path / "fixed"
    echo = {"tally": str(tally)}
    plan = {
        "steps": [
            {"step_id": "a", "arm": "echo", "action": "root", "input": echo},
            {"step_id": "side", "arm": "echo", "action": "independent", "input": echo},
            {
                "step_id": "b",
                "arm": "flaky",
                "action": "breaks",
                "depends_on": ["a"],
                "input": {"counter_file": str(calls), "fixed_file": str(fixed)},
            },
            {
                "step_id": "c",
                "arm": "echo",
                "action": "after b",
                "depends_on": ["b"],
                "input": echo,
            },
            {
                "step_id": "d",
                "arm": "echo",
                "action": "after c",
                "depends_on": ["c"],
                "input": echo,
            },
        ]
    }
    task = lifecycle.submit(
        runtime, TaskContract(goal="resume me after a fix", plan=plan, budget=Budget(max_retries=0))
    )
    failed = wait_for_task(runtime, task.id)
    assert failed.status == "failed"
    assert sorted(tallied(tally)) == ["a", "side"]
    fixed.touch()
    resumed = lifecycle.resume(runtime, task.id)
    assert resumed.status == "processing"
    done = wait_for_task(runtime, task.id)
    assert done.status == "completed", done.error
    runs = tallied(tally)
    assert {s: runs.count(s) for s in ("a", "side", "c", "d")} == {
        "a": 1,
        "side": 1,
        "c": 1,
        "d": 1,
    }
    assert len(tallied(calls)) == 2  # b: once failing, once after the fix
    assert done.result["steps"]["d"]["received"]["c"]["received"]["b"] == {"calls": 2}
    with pytest.raises(Conflict, match="only failed or cancelled tasks can be resumed"):
        lifecycle.resume(runtime, task.id)


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_cancelling_a_running_task_stops_it_and_cancels_its_queued_steps(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    stack.start_fleet(["orchestrator", "echo", "sleep"])
    tally = tmp_path / "echo.calls"
    plan = {
        "steps": [
            {"step_id": "long", "arm": "sleep", "action": "runs", "input": {"seconds": 20}},
            {
                "step_id": "next",
                "arm": "echo",
                "action": "never",
                "depends_on": ["long"],
                "input": {"tally": str(tally)},
            },
            {
                "step_id": "last",
                "arm": "echo",
                "action": "never",
                "depends_on": ["next"],
                "input": {"tally": str(tally)},
            },
        ]
    }
    task = lifecycle.submit(runtime, TaskContract(goal="cancel me while I run", plan=plan))
    wait_until(lambda: steps_of(runtime, task.id)["long"].status == "running", 20, "long running")
    began = time.monotonic()
    cancelled = lifecycle.cancel(runtime, task.id)
    assert cancelled.status == "cancelled"
    row = wait_for_task(runtime, task.id)
    assert row.status == "cancelled"
    assert row.error["code"] == "CANCELLED"
    # the running step stops at its next cancellation check, long before its 20 s
    wait_until(lambda: steps_of(runtime, task.id)["long"].status == "cancelled", 5, "long stopped")
    assert time.monotonic() - began < 5
    # Any stray message would have been queued before this probe on the same queues: once the
    # probe's echo step has run, a stray one would have started too (no wait on the clock).
    probe = {"steps": [{"step_id": "p", "arm": "echo", "action": "probe", "input": {}}]}
    after = lifecycle.submit(runtime, TaskContract(goal="a probe after the cancel", plan=probe))
    assert wait_for_task(runtime, after.id).status == "completed"
    steps = steps_of(runtime, task.id)
    assert {s: r.status for s, r in steps.items()} == {
        "long": "cancelled",
        "next": "cancelled",
        "last": "cancelled",
    }
    assert steps["next"].started_at is None
    assert steps["last"].started_at is None
    assert tallied(tally) == []
    with pytest.raises(Conflict, match="already cancelled"):
        lifecycle.cancel(runtime, task.id)


def test_dead_letters_matching_a_filter_are_replayed_together_and_only_once(
    stack: LiveStack, runtime: Any, tmp_path: Path
) -> None:
    stack.start_fleet(["orchestrator", "echo", "flaky"])
    fixed = tmp_path / "fixed"
    ids = []
    for i in range(2):
        plan = {
            "steps": [
                {
                    "step_id": "f",
                    "arm": "flaky",
                    "action": "fails until fixed",
                    "input": {
                        "counter_file": str(tmp_path / f"calls{i}"),
                        "fixed_file": str(fixed),
                    },
                },
                {"step_id": "z", "arm": "echo", "action": "after", "depends_on": ["f"]},
            ]
        }
        contract = TaskContract(goal=f"flaky task {i}", plan=plan, budget=Budget(max_retries=0))
        ids.append(lifecycle.submit(runtime, contract).id)
    assert all(wait_for_task(runtime, t).status == "failed" for t in ids)
    letters = deadletters.list_dead_letters(runtime, DeadLetterFilter(arm="flaky"))
    assert sorted(dl.task_id for dl in letters) == sorted(ids)
    fixed.touch()
    report = deadletters.replay_matching(runtime, DeadLetterFilter(arm="flaky"), by="bulk")
    assert sorted(dl.task_id for dl in report.replayed) == sorted(ids)
    assert all(dl.replayed_by == "bulk" and dl.replay_count == 1 for dl in report.replayed)
    assert report.skipped == []
    assert all(wait_for_task(runtime, t).status == "completed" for t in ids)
    again = deadletters.replay_matching(runtime, DeadLetterFilter(arm="flaky"), by="bulk")
    assert (again.replayed, again.skipped) == ([], [])
