"""Redundant deliveries under a backlog: does the reconciler tell lost steps from waiting ones?

    PYTHONPATH=. TEST_REDIS_DB=6 .venv/bin/python -m benchmarks.redundant_deliveries \
        [--steps 10000] [--stall 5] [--patience default|none]

Submits ``--steps`` ``noop`` steps (tasks of ``--width`` independent steps) while no worker
runs (so every step waits in the queue far longer than ``stall_seconds``), then starts one
threads worker and runs a reconciler pass every second in this process (what celery beat
does) until every task is finished. Counts every ``octollm.step.run`` message the worker
received (its log) against the steps: the difference is redundant deliveries (messages for a
step that already had one).

``--patience none`` sets ``stall_patience_seconds`` to ~0, i.e. the reconciler re-drives every
ready step it finds not picked up for ``stall_seconds``, as it did before it asked the broker
(orchestrator/backlog.py): the baseline.

Uses tests/support/stack.py (a fresh database, the Redis DB of ``TEST_REDIS_DB``, real
``celery worker`` subprocesses).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import reconciler

RECEIVED = re.compile(r"Task octollm\.step\.run\[[^\]]+\] received")


def run(steps: int, stall: float, patience: str, concurrency: int, width: int) -> dict[str, Any]:
    from tests.support.arms import PLUGINS

    os.environ.setdefault("OCTOLLM_ARM_PLUGINS", PLUGINS)  # plans name the test arms
    from tests.support.stack import live_stack, make_runtime

    env = {"OCTOLLM_ORCHESTRATOR__STALL_SECONDS": str(stall)}
    if patience == "none":
        env["OCTOLLM_ORCHESTRATOR__STALL_PATIENCE_SECONDS"] = "0.001"
    with tempfile.TemporaryDirectory() as tmp, live_stack(Path(tmp), **env) as stack:
        rt = make_runtime(stack)
        if patience == "none":
            rt.settings.orchestrator.stall_patience_seconds = 0.001
        plan = {
            "steps": [{"step_id": f"s{j}", "arm": "noop", "action": "noop"} for j in range(width)]
        }
        t0 = time.monotonic()
        for i in range(steps // width):
            lifecycle.submit(rt, TaskContract(goal=f"backlog task {i}", plan=plan))
        submitted = time.monotonic() - t0
        stack.start_worker(["orchestrator"], concurrency=2)
        worker = stack.start_worker(["noop"], concurrency=concurrency)
        passes: list[Any] = []
        stop = threading.Event()

        def reconcile() -> None:
            while not stop.wait(1.0):
                passes.append(reconciler.reconcile(rt))

        thread = threading.Thread(target=reconcile, daemon=True)
        thread.start()
        t1 = time.monotonic()
        while True:
            with rt.db.session() as session:
                open_tasks = session.execute(
                    text("SELECT count(*) FROM tasks WHERE status NOT IN ('completed', 'failed')")
                ).scalar_one()
            if open_tasks == 0:
                break
            time.sleep(1.0)
        drained = time.monotonic() - t1
        time.sleep(3.0)  # late duplicates still in flight
        stop.set()
        thread.join(10)
        deliveries = len(RECEIVED.findall(worker.log()))
        rt.db.dispose()
    steps = steps // width * width
    return {
        "steps": steps,
        "stall_seconds": stall,
        "patience": patience,
        "deliveries": deliveries,
        "redundant": deliveries - steps,
        "redundant_pct": round(100.0 * (deliveries - steps) / steps, 2),
        "redriven_tasks": sum(len(p.redriven) for p in passes),
        "waiting_seen": sum(p.waiting for p in passes),
        "submit_seconds": round(submitted, 1),
        "drain_seconds": round(drained, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--stall", type=float, default=5.0)
    parser.add_argument("--patience", choices=("default", "none"), default="default")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--width", type=int, default=10, help="independent steps per task")
    args = parser.parse_args(argv)
    result = run(args.steps, args.stall, args.patience, args.concurrency, args.width)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
