"""Flower, started as documented (``octollm.observability.flower``), seen in a real headless
browser (Debian's chromium): every pool's worker online, a finished task; auth required."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from octollm.config.observability import FlowerSettings
from octollm.contracts import Budget, TaskContract
from octollm.observability.flower import (
    FlowerCredentialsMissing,
    flower_argv,
    flower_env,
    start_flower,
)
from octollm.orchestrator.broker.fleet import Pool, load_fleet, worker_argv
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.engine.compile import control_id, message_id
from tests.support import services
from tests.support.arms import tallied
from tests.support.stack import (
    ROOT,
    LiveStack,
    live_stack,
    make_runtime,
    steps_of,
    wait_for_task,
)

CHROMIUM = "/usr/bin/chromium"
USER, PASSWORD = "ops", "flower-test-password"
SCREENSHOT = ROOT / "docs" / "flower.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium(tmp: Path, *args: str, timeout: float = 90) -> str:
    argv = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--window-size=1400,900",
        "--virtual-time-budget=6000",
        *args,
    ]
    done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    return done.stdout.decode(errors="replace")


def test_flower_refuses_to_start_without_credentials_unless_insecure() -> None:
    settings: Any = type(
        "S", (), {"flower": FlowerSettings(), "require_broker_url": lambda self: "redis://"}
    )()
    with pytest.raises(FlowerCredentialsMissing):
        flower_argv(settings)
    with pytest.raises(FlowerCredentialsMissing):
        start_flower(settings)
    argv = flower_argv(settings, insecure=True)
    assert "--address=127.0.0.1" in argv
    assert not flower_env(settings, insecure=True)
    secured: Any = type(
        "S",
        (),
        {
            "flower": FlowerSettings(user=USER, password=PASSWORD),  # type: ignore[arg-type]
            "require_broker_url": lambda self: "redis://",
        },
    )()
    assert PASSWORD not in " ".join(flower_argv(secured)), "the password must not be visible in ps"
    assert flower_env(secured)["FLOWER_BASIC_AUTH"] == f"{USER}:{PASSWORD}"


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[LiveStack, list[subprocess.Popen[bytes]]]]:
    with live_stack(tmp_path, redis_db=int(os.environ.get("TEST_REDIS_DB") or 13)) as stack:
        stack.extra_env["OCTOLLM_FLOWER__TASK_EVENTS"] = "true"  # Flower's task views need them
        settings = stack.settings()
        fleet_pools = load_fleet()
        pools = [
            fleet_pools["orchestrator"],
            fleet_pools["webhooks"],
            Pool("echo", ("echo",), concurrency=2),
            Pool("fail", ("fail",), concurrency=1),
        ]
        procs = []
        for pool in pools:
            log = (tmp_path / f"pool-{pool.name}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    worker_argv(pool, settings),
                    cwd=ROOT,
                    env=stack.env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        try:
            deadline = time.monotonic() + 40
            while not all(
                "ready." in (tmp_path / f"pool-{p.name}.log").read_text(errors="replace")
                for p in pools
            ):
                assert time.monotonic() < deadline, "fleet did not start"
                time.sleep(0.2)
            yield stack, procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


@dataclass
class Flower:
    stack: LiveStack
    base: str  # no credentials
    authed: str  # credentials in the URL, for the browser
    auth: tuple[str, str]


@pytest.fixture
def flower(
    tmp_path: Path,
    fleet: tuple[LiveStack, list[subprocess.Popen[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Flower]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if services.in_ci():
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    stack, _ = fleet
    port = free_port()
    for key, value in {
        "OCTOLLM_FLOWER__USER": USER,
        "OCTOLLM_FLOWER__PASSWORD": PASSWORD,
        "OCTOLLM_FLOWER__PORT": str(port),
    }.items():
        monkeypatch.setenv(key, value)
    settings = stack.settings()
    log = (tmp_path / "flower.log").open("wb")
    proc = start_flower(
        settings,
        env=stack.env(),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthcheck", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            flower_log = (tmp_path / "flower.log").read_text()
            assert proc.poll() is None, flower_log
            assert time.monotonic() < deadline, flower_log
            time.sleep(0.3)
        yield Flower(stack, base, f"http://{USER}:{PASSWORD}@127.0.0.1:{port}", (USER, PASSWORD))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def test_the_flower_dashboard_shows_every_pool_online_and_a_finished_task(
    tmp_path: Path, flower: Flower
) -> None:
    base, auth, authed = flower.base, flower.auth, flower.authed
    rt = make_runtime(flower.stack)
    try:
        assert httpx.get(f"{base}/", timeout=5).status_code == 401, (
            "the dashboard must require auth"
        )
        assert httpx.get(f"{base}/", auth=auth, timeout=5).status_code == 200

        plan = {"steps": [{"step_id": "hello", "arm": "echo", "action": "greet the operators"}]}
        task = lifecycle.submit(rt, TaskContract(goal="a task for Flower to show", plan=plan))
        assert wait_for_task(rt, task.id).status == "completed"

        deadline = time.monotonic() + 30
        while True:  # Flower learns workers from their heartbeats
            workers = httpx.get(f"{base}/api/workers?refresh=1", auth=auth, timeout=10).json()
            names = {name.split("@")[0] for name in workers}
            if {"orchestrator", "webhooks", "echo"} <= names:
                break
            assert time.monotonic() < deadline, f"Flower saw only {sorted(workers)}"
            time.sleep(0.5)

        dom = chromium(tmp_path, "--dump-dom", f"{authed}/workers")
        for pool in ("orchestrator@", "webhooks@", "echo@"):
            assert pool in dom, f"{pool} missing from the workers dashboard"
        assert "Online" in dom
        tasks_dom = chromium(tmp_path, "--dump-dom", f"{authed}/tasks")
        assert "octollm.step.run" in tasks_dom, "no step task shown"
        assert "SUCCESS" in tasks_dom, "no finished task shown"

        # taken here, then moved into docs/ at once: another suite may be writing them too
        shots = {"workers": SCREENSHOT, "tasks": SCREENSHOT.with_name("flower-tasks.png")}
        for page, target in shots.items():
            taken = tmp_path / target.name
            chromium(tmp_path, f"--screenshot={taken}", f"{authed}/{page}")
            assert taken.stat().st_size > 10_000, page
            target.parent.mkdir(exist_ok=True)
            part = target.with_name(f".{target.name}.{os.getpid()}.part")
            shutil.copyfile(taken, part)
            os.replace(part, target)
    finally:
        rt.db.dispose()


def _flower_tasks(flower: Flower, state: str) -> dict[str, dict[str, Any]]:
    url = f"{flower.base}/api/tasks?state={state}"
    found: dict[str, dict[str, Any]] = httpx.get(url, auth=flower.auth, timeout=10).json()
    return found


def test_a_failed_step_is_a_failure_in_flower_and_its_canvas_moves_on(
    tmp_path: Path, flower: Flower
) -> None:
    """Postgres records the failure; the step's Celery task ends in FAILURE (Flower's API and
    its tasks page say so), once: no redelivery; and the canvas goes on: after an optional
    step that failed as a chord header member, the chord body and the chain after it run; a
    required failed step fails its task; the finalize message has its deterministic id."""
    rt = make_runtime(flower.stack)
    calls = tmp_path / "fail.calls"
    failing = {"message": "refused on purpose", "tally": str(calls)}
    try:
        optional = lifecycle.submit(
            rt,
            TaskContract(
                goal="an optional step fails, the rest goes on",
                plan={
                    "steps": [
                        {"step_id": "gap", "arm": "fail", "action": "fails", "input": failing,
                         "critical": False},
                        {"step_id": "ok", "arm": "echo", "action": "works"},
                        {"step_id": "after", "arm": "echo", "action": "follows",
                         "depends_on": ["gap", "ok"]},
                        {"step_id": "last", "arm": "echo", "action": "ends",
                         "depends_on": ["after"]},
                    ]
                },
            ),
        )  # fmt: skip
        required = lifecycle.submit(
            rt,
            TaskContract(
                goal="a required step fails",
                plan={"steps": [{"step_id": "must", "arm": "fail", "action": "fails",
                                 "input": failing}]},
                budget=Budget(max_repair_rounds=0),
            ),
        )  # fmt: skip
        wait_for_task(rt, optional.id)  # failed: no judge vouches for the gap (not our point)
        states = {sid: row.status for sid, row in steps_of(rt, optional.id).items()}
        assert states == {"gap": "failed", "ok": "succeeded", "after": "succeeded",
                          "last": "succeeded"}, "the canvas stopped at the failed step"  # fmt: skip
        failed = wait_for_task(rt, required.id)
        assert failed.status == "failed"
        assert failed.error["step_id"] == "must"

        gap_id = message_id(optional.id, "gap", 1)
        must_id = message_id(required.id, "must", 1)
        finalize_id = control_id(optional.id, "finalize", 1)
        deadline = time.monotonic() + 30
        while True:  # Flower learns task states from the workers' events
            failures = _flower_tasks(flower, "FAILURE")
            succeeded = _flower_tasks(flower, "SUCCESS")
            if {gap_id, must_id} <= set(failures) and finalize_id in succeeded:
                break
            assert time.monotonic() < deadline, (sorted(failures), sorted(succeeded))
            time.sleep(0.5)
        assert failures[gap_id]["name"] == "octollm.step.run"
        assert "StepFailed" in failures[gap_id]["exception"]
        assert message_id(optional.id, "last", 1) in succeeded
        time.sleep(2)  # a redelivered message would run the arm again
        assert len(tallied(calls)) == 2, "each failed step ran once"

        tasks_dom = chromium(tmp_path, "--dump-dom", f"{flower.authed}/tasks?state=FAILURE")
        assert gap_id in tasks_dom, "the failed optional step is not listed"
        assert must_id in tasks_dom, "the failed required step is not listed"
        assert "FAILURE" in tasks_dom
    finally:
        rt.db.dispose()
