"""Capability keys as an operator deploys them: publishers hold the private keyring, arm workers
the public one; a worker without usable keys does not start, and a worker whose keys do not
match the publisher's says so in one line, in ``security_events`` and on the task's stream.

"Another host" is another data directory (and, for the rig across network namespaces,
``test_multihost.py``): nothing shared with the publisher but the broker and the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.contracts.event import Event
from octollm.orchestrator.engine import lifecycle
from octollm.security import keyring
from octollm.security.keyring import Keyring
from octollm.store import security_events
from tests.support.arms import tallied
from tests.support.stack import (
    LiveStack,
    Worker,
    make_runtime,
    steps_of,
    wait_for_task,
    wait_until,
)
from tests.support.streams import stream_entries


@pytest.fixture
def rt(stack: LiveStack) -> Iterator[Any]:
    runtime = make_runtime(stack)
    yield runtime
    runtime.db.dispose()


def start_with(stack: LiveStack, arm: str, **env: str) -> Worker:
    saved = dict(stack.extra_env)
    stack.extra_env.update(env)
    try:
        return stack.start_worker([arm])
    finally:
        stack.extra_env.clear()
        stack.extra_env.update(saved)


def on_another_host(stack: LiveStack, name: str, arm: str, **env: str) -> Worker:
    """A worker with its own data directory and HOME (and ``env``), as on a second machine."""
    home = stack.tmp / name
    home.mkdir(exist_ok=True)
    return start_with(stack, arm, OCTOLLM_DATA_DIR=str(home / "data"), HOME=str(home), **env)


def one_step(rt: Any, arm: str, step_input: dict[str, Any]) -> str:
    plan = {"steps": [{"step_id": "s", "arm": arm, "action": "act", "input": step_input}]}
    return lifecycle.submit(rt, TaskContract(goal="a task for key tests", plan=plan)).id


def log_lines(worker: Worker, event: str) -> list[dict[str, Any]]:
    """The worker's log lines naming ``event``: JSON once logging is set up, console before."""
    found = []
    for line in worker.log().splitlines():
        if event in line:
            try:
                found.append(json.loads(line[line.index("{") :]))
            except ValueError:
                found.append({"raw": line})
    return found


def test_a_worker_whose_key_file_is_missing_does_not_start_and_says_why_in_one_line(
    stack: LiveStack,
) -> None:
    with pytest.raises(RuntimeError, match="did not start") as caught:
        on_another_host(
            stack,
            "arm-host",
            "echo",
            OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE=str(stack.tmp / "nowhere.jwks"),
        )
    said = [line for line in str(caught.value).splitlines() if "capability_keys_unusable" in line]
    assert len(said) == 1, str(caught.value)[-2000:]
    assert "nowhere.jwks does not exist" in said[0]
    assert "export-public" in said[0], "the line carries the fix"


def test_a_publishing_pool_with_only_public_keys_does_not_start(stack: LiveStack) -> None:
    public = stack.tmp / "public.jwks"
    keyring.write(public, Keyring.generate().public_jwks(), private=False)
    with pytest.raises(RuntimeError, match="did not start") as caught:
        on_another_host(
            stack, "orch-host", "orchestrator", OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE=str(public)
        )
    assert "mints capability tokens but holds only public keys" in str(caught.value)


def test_a_worker_with_another_hosts_keys_refuses_in_one_line_and_the_task_says_why(
    stack: LiveStack, rt: Any, tmp_path: Path
) -> None:
    # The operator: two data directories, nothing configured, each host made its own.
    stack.start_worker(["orchestrator"])
    arm = on_another_host(stack, "arm-host", "echo")
    assert log_lines(arm, "capability_keys_generated_here"), "said loudly at start"
    tally = tmp_path / "echo.calls"
    task_id = one_step(rt, "echo", {"tally": str(tally)})

    def refused() -> Any:
        with rt.db.session() as session:
            found = list(security_events.for_task(session, task_id))
        return next((e for e in found if e.kind == "unknown_key"), None)

    event = wait_until(refused, 60, "an unknown_key security event")
    assert "OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE" in event.details["message"]
    lines = log_lines(arm, "capability_refused")
    assert lines
    assert lines[0]["kind"] == "unknown_key"
    assert "export-public" in lines[0]["reason"], "the refusal's line names the fix"

    def surfaced() -> Any:
        events = [
            Event.model_validate_json(fields[b"event"])
            for _, fields in stream_entries(stack.redis(), task_id)
        ]
        return next((e for e in events if e.event_type == "step.refused"), None)

    notice = wait_until(surfaced, 30, "a step.refused event on the task's stream")
    assert notice.data["kind"] == "unknown_key"
    assert notice.data["step_id"] == "s"
    assert (steps_of(rt, task_id)["s"].status, tallied(tally)) == ("queued", [])


def test_an_arm_worker_with_only_public_keys_runs_steps_and_its_retries(
    stack: LiveStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = tmp_path / "keys" / "capability.jwks", tmp_path / "capability.pub.jwks"
    ring = Keyring.generate()
    keyring.write(private, ring.private_jwks(), private=True)
    keyring.write(public, ring.public_jwks(), private=False)
    monkeypatch.setenv("OCTOLLM_CAPABILITY__KEYS_FILE", str(private))  # the test publishes
    rt = make_runtime(stack)
    try:
        start_with(stack, "orchestrator", OCTOLLM_CAPABILITY__KEYS_FILE=str(private))
        arm = on_another_host(
            stack, "arm-host", "flaky", OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE=str(public)
        )
        assert "verify-only" in json.dumps(log_lines(arm, "capability_keys"))
        counter = tmp_path / "flaky.calls"
        task_id = one_step(rt, "flaky", {"counter_file": str(counter), "fail_times": 1})
        row = wait_for_task(rt, task_id, timeout=90)
        assert row.status == "completed", row.error
        assert steps_of(rt, task_id)["s"].attempts == 2, "the retry went via the orchestrator"
        with rt.db.session() as session:
            assert security_events.for_task(session, task_id) == []
    finally:
        rt.db.dispose()
