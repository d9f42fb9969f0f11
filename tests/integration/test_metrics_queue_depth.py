"""``/metrics`` from the exporter: queue depth of every octollm queue, moving as work is queued
and drained; step and task counters written by real workers (prometheus multiprocess mode)."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from octollm.contracts import TaskContract
from octollm.observability import start_exporter
from octollm.observability.queues import octollm_queues
from octollm.orchestrator.engine import lifecycle
from tests.support.stack import live_stack, make_runtime, wait_for_task


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def depth(text: str, arm: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("octollm_queue_depth{") and f'arm="{arm}"' in line
    )


def test_queue_depth_covers_every_queue_and_moves_as_tasks_are_queued_and_drained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prom = tmp_path / "prom"
    prom.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(prom))
    with live_stack(
        tmp_path,
        redis_db=int(os.environ.get("TEST_REDIS_DB") or 13),
        PROMETHEUS_MULTIPROC_DIR=str(prom),
    ) as stack:
        rt = make_runtime(stack)
        settings = stack.settings()
        port = free_port()
        server, _ = start_exporter(settings, port=port, address="127.0.0.1")
        try:
            text = scrape(port)
            queues = octollm_queues(stack.prefix, stack.redis_url)
            assert {q.arm for q in queues} >= {
                "planner",
                "coder",
                "executor",
                "judge",
                "retriever",
                "guardian",
                "orchestrator",
                "webhooks",
                "echo",
            }
            for q in queues:
                assert sample(text, "octollm_queue_depth", queue=q.name) == 0.0, q.name
            assert sample(text, "octollm_queue_depth", queue=f"{stack.prefix}.echo.critical") == 0.0

            plan = {"steps": [{"step_id": "a", "arm": "echo", "action": "wait in the queue"}]}
            ids = [
                lifecycle.submit(rt, TaskContract(goal=f"queued task {i}", plan=plan)).id
                for i in range(3)
            ]
            assert depth(scrape(port), "echo") == 3.0

            stack.start_fleet(["orchestrator", "echo"])
            for task_id in ids:
                assert wait_for_task(rt, task_id).status == "completed"
            deadline = time.monotonic() + 10
            while depth(text := scrape(port), "echo") or depth(text, "orchestrator"):
                assert time.monotonic() < deadline, "queues did not drain"
                time.sleep(0.2)

            assert sample(text, "octollm_steps_total", arm="echo", status="succeeded") == 3.0
            assert (
                sample(text, "octollm_step_duration_seconds_count", arm="echo", status="succeeded")
                == 3.0
            )
            assert sample(text, "octollm_tasks_total", status="completed") == 3.0
        finally:
            server.shutdown()
            rt.db.dispose()
