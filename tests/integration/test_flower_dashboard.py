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
from pathlib import Path
from typing import Any

import httpx
import pytest

from octollm.config.observability import FlowerSettings
from octollm.contracts import TaskContract
from octollm.observability.flower import (
    FlowerCredentialsMissing,
    flower_argv,
    flower_env,
    start_flower,
)
from octollm.orchestrator.broker.fleet import Pool, load_fleet, worker_argv
from octollm.orchestrator.engine import lifecycle
from tests.support import services
from tests.support.stack import ROOT, LiveStack, live_stack, make_runtime, wait_for_task

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
        settings = stack.settings()
        fleet_pools = load_fleet()
        pools = [
            fleet_pools["orchestrator"],
            fleet_pools["webhooks"],
            Pool("echo", ("echo",), concurrency=2),
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


def test_the_flower_dashboard_shows_every_pool_online_and_a_finished_task(
    tmp_path: Path,
    fleet: tuple[LiveStack, list[subprocess.Popen[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
    flower = start_flower(
        settings,
        env=stack.env(),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    rt = make_runtime(stack)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthcheck", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            flower_log = (tmp_path / "flower.log").read_text()
            assert flower.poll() is None, flower_log
            assert time.monotonic() < deadline, flower_log
            time.sleep(0.3)
        assert httpx.get(f"{base}/", timeout=5).status_code == 401, (
            "the dashboard must require auth"
        )
        auth = (USER, PASSWORD)
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

        authed = f"http://{USER}:{PASSWORD}@127.0.0.1:{port}"
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
        if flower.poll() is None:
            os.killpg(flower.pid, signal.SIGTERM)
            flower.wait(10)
        rt.db.dispose()
