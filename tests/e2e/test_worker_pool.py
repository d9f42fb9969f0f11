"""``octollm worker POOL`` as an operator starts it, with a fleet file of the test's own:

- the pool's ``time_limit`` holds on a thread pool (Celery has no time limits there): a step
  that sleeps past it is stopped and recorded as timed out, once, without a redelivery loop, and
  ``octollm fleet`` shows the limit the step runs under;
- every line the workers write (a thread pool, and a prefork pool with its children), on stdout
  and stderr, is a JSON log line: Celery's banner, its warnings (the root warning when run as
  root), its shutdown messages, kombu's and Celery's own loggers, ours; and so is every line
  ``octollm beat`` writes (no banner).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts.task import Budget, TaskContract
from octollm.orchestrator.engine import lifecycle
from tests.support.stack import (
    ROOT,
    LiveStack,
    live_stack,
    make_runtime,
    steps_of,
    wait_for_task,
)

pytestmark = pytest.mark.timeout(300)

FLEET = """
[pools.orchestrator]
arms = ["orchestrator"]
pool = "prefork"
concurrency = 2
time_limit = 120

[pools.sleep]
arms = ["sleep"]
pool = "threads"
concurrency = 1
time_limit = 2
"""


@dataclass
class Pools:
    stack: LiveStack
    env: dict[str, str]
    procs: list[tuple[subprocess.Popen[bytes], Path, Path]] = field(default_factory=list)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "octollm.cli.main", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr[-3000:])
        return done

    def start_worker(self, pool: str) -> tuple[Path, Path]:
        """``octollm worker POOL``, stdout and stderr in files of their own; waits for ready."""
        return self.start(pool, ["worker", pool], "ready.")

    def start(self, name: str, args: list[str], ready: str) -> tuple[Path, Path]:
        """``octollm ARGS``, stdout and stderr in files of their own; waits for ``ready``."""
        out, err = self.stack.tmp / f"{name}.out", self.stack.tmp / f"{name}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                [sys.executable, "-m", "octollm.cli.main", *args],
                cwd=ROOT, env=self.env, stdout=o, stderr=e, start_new_session=True,
            )  # fmt: skip
        self.procs.append((proc, out, err))
        deadline = time.monotonic() + 60
        while ready not in out.read_text(errors="replace") + err.read_text(errors="replace"):
            assert proc.poll() is None, err.read_text()[-3000:]
            assert time.monotonic() < deadline, err.read_text()[-3000:]
            time.sleep(0.1)
        return out, err

    def stop(self) -> None:
        for proc, _, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def pools(tmp_path: Path) -> Iterator[Pools]:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET)
    with live_stack(tmp_path) as stack:
        env = stack.env()
        env.pop("OCTOLLM_LOG__JSON_OUTPUT")  # the default: JSON because not on a terminal
        env["OCTOLLM_FLEET_FILE"] = str(fleet)
        p = Pools(stack, env)
        try:
            yield p
        finally:
            p.stop()


def test_a_thread_pool_step_past_the_pool_time_limit_is_stopped_and_every_line_is_json(
    pools: Pools,
) -> None:
    shown = pools.cli("fleet").stdout
    assert "sleep: threads x1, prefetch 1, time limit 2 s per step" in shown, shown
    hard = "(hard kill at 135 s)"  # prefork: Celery's --time-limit, a grace after the step's
    assert f"orchestrator: prefork x2, prefetch 1, time limit 120 s per step {hard}" in shown

    logs = [*pools.start_worker("orchestrator"), *pools.start_worker("sleep")]
    logs += pools.start("beat", ["beat"], "beat: Starting...")  # beat's lines are JSON too
    rt = make_runtime(pools.stack)
    try:
        nap = {"step_id": "s", "arm": "sleep", "action": "nap", "input": {"seconds": 8}}
        contract = TaskContract(
            goal="sleep past the pool limit", plan={"steps": [nap]}, budget=Budget(max_retries=0)
        )
        task = lifecycle.submit(rt, contract)
        row = wait_for_task(rt, task.id, timeout=90)
        assert row.status == "failed"
        step = steps_of(rt, task.id)["s"]
        assert step.status == "failed"
        assert step.attempts == 1
        assert (step.error or {}).get("code") == "EXECUTION_TIMEOUT", step.error
        assert "2 s" in (step.error or {}).get("message", ""), step.error
    finally:
        rt.db.dispose()
    pools.stop()

    lines: list[dict[str, Any]] = []
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"{path.name}: a line that is not JSON: {line!r}")
    events = [entry.get("event") for entry in lines]
    started = [entry for entry in lines if entry.get("event") == "worker_started"]
    assert {entry["pool"] for entry in started} == {"orchestrator", "sleep"}, started
    assert {entry["time_limit_seconds"] for entry in started} == {120, 2}, started
    assert any(str(event).endswith("ready.") for event in events), events
    assert any(entry.get("event") == "step_failed" for entry in lines), events
    assert any(entry.get("logger") == "celery.beat" for entry in lines), events
    if os.geteuid() == 0:  # Celery warns about running as root: a log line too
        assert any(entry.get("logger") == "py.warnings" for entry in lines), events
