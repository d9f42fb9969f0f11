"""Redundant deliveries under a backlog: does the reconciler tell lost steps from waiting ones?

    PYTHONPATH=. TEST_REDIS_DB=6 .venv/bin/python -m benchmarks.redundant_deliveries \
        [--steps 10000] [--stall 5] [--patience default|none] [--broker redis|amqp]

Submits ``--steps`` ``noop`` steps (tasks of ``--width`` independent steps) while no worker
runs (so every step waits in the queue far longer than ``stall_seconds``), then starts one
threads worker and runs a reconciler pass every second in this process (what celery beat
does) until every task is finished. Counts every ``octollm.step.run`` message the worker
received (its log) against the steps that received one: the difference is redundant
deliveries (messages for a step that already had one). Tasks get a one-day budget, so none
expires while the backlog drains (an expired task's queued messages would be left unconsumed).

``--patience none`` sets ``stall_patience_seconds`` to ~0, i.e. the reconciler re-drives every
ready step it finds not picked up for ``stall_seconds``, as it did before it asked the broker
(orchestrator/backlog.py): the baseline.

``--broker amqp`` runs the same on the machine's RabbitMQ (``--amqp-url``, default
guest@127.0.0.1:5672): one queue per arm with ``x-max-priority``, the backlog asked by a
passive ``queue_declare``. Redis then carries only events and the chord counters: a private
``redis-server``, so no shared Redis DB is touched. The run's queues (its unique prefix) are
deleted at the end.

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

from pydantic import SecretStr
from sqlalchemy import text

from octollm.contracts import TaskContract
from octollm.contracts.task import Budget
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import reconciler

RECEIVED = re.compile(r"Task octollm\.step\.run\[([^\]]+)\] received")
#: A backlog drains for many minutes on a loaded machine: no task may expire meanwhile.
BUDGET = Budget(max_time_seconds=86_400)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _on_rabbitmq(stack: Any, amqp_url: str) -> Any:
    """Point ``stack`` (and a runtime for it) at RabbitMQ; Redis keeps events and chords."""
    from octollm.events import RedisEventBus
    from octollm.orchestrator.runtime import Runtime
    from octollm.store.db import Database
    from tests.support import services
    from tests.support.stack import make_app

    services.require_rabbitmq(amqp_url)
    backend_url = stack.redis_url  # kombu's form (redis+socket:// for a private server)
    client_url = stack.client_url or stack.redis_url  # redis-py's form
    stack.redis_url = amqp_url  # the workers' OCTOLLM_BROKER__URL and their queue names
    stack.client_url = client_url  # OCTOLLM_BROKER__REDIS_URL
    stack.extra_env["OCTOLLM_BROKER__RESULT_BACKEND"] = backend_url
    settings = stack.settings()
    broker = settings.broker.model_copy(update={"result_backend": SecretStr(backend_url)})
    settings = settings.model_copy(update={"broker": broker})
    return Runtime(
        settings=settings,
        db=Database(stack.database_url),
        app=make_app(settings),
        events=RedisEventBus.from_url(client_url),
    )


def _delete_queues(rt: Any, arms: list[str], amqp_url: str) -> None:
    from octollm.orchestrator.broker import queues as routing

    names = routing.all_queue_names(rt.settings.queue_prefix, arms, amqp_url)
    with rt.app.connection_for_write() as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)
        channel.close()


def run(
    steps: int,
    stall: float,
    patience: str,
    concurrency: int,
    width: int,
    broker: str = "redis",
    amqp_url: str = AMQP_URL,
) -> dict[str, Any]:
    from tests.support.arms import PLUGINS

    os.environ.setdefault("OCTOLLM_ARM_PLUGINS", PLUGINS)  # plans name the test arms
    from tests.support.stack import live_stack, make_runtime

    env = {"OCTOLLM_ORCHESTRATOR__STALL_SECONDS": str(stall)}
    if patience == "none":
        env["OCTOLLM_ORCHESTRATOR__STALL_PATIENCE_SECONDS"] = "0.001"
    # On RabbitMQ, Redis only carries events and chords: a private server, so the run
    # touches none of the machine's Redis DBs.
    private = broker == "amqp"
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_stack(Path(tmp), private_redis=private, **env) as stack,
    ):
        rt = make_runtime(stack) if broker == "redis" else _on_rabbitmq(stack, amqp_url)
        if patience == "none":
            rt.settings.orchestrator.stall_patience_seconds = 0.001
        plan = {
            "steps": [{"step_id": f"s{j}", "arm": "noop", "action": "noop"} for j in range(width)]
        }
        t0 = time.monotonic()
        for i in range(steps // width):
            lifecycle.submit(rt, TaskContract(goal=f"backlog task {i}", plan=plan, budget=BUDGET))
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
        received = RECEIVED.findall(worker.log())
        # message ids are <task>.<step>.g<generation>: count the steps that got any message
        delivered_steps = len({m.rpartition(".g")[0] for m in received})
        deliveries = len(received)
        with rt.db.session() as session:
            failed = session.execute(
                text("SELECT count(*) FROM tasks WHERE status <> 'completed'")
            ).scalar_one()
        if broker == "amqp":
            for w in stack.workers:
                w.stop()
            _delete_queues(rt, ["noop"], amqp_url)
        rt.db.dispose()
    steps = steps // width * width
    return {
        "broker": broker,
        "steps": steps,
        "stall_seconds": stall,
        "patience": patience,
        "deliveries": deliveries,
        "steps_delivered": delivered_steps,
        "redundant": deliveries - delivered_steps,
        "redundant_pct": round(100.0 * (deliveries - delivered_steps) / steps, 2),
        "tasks_not_completed": failed,
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
    parser.add_argument("--broker", choices=("redis", "amqp"), default="redis")
    parser.add_argument("--amqp-url", default=AMQP_URL)
    args = parser.parse_args(argv)
    result = run(
        args.steps,
        args.stall,
        args.patience,
        args.concurrency,
        args.width,
        broker=args.broker,
        amqp_url=args.amqp_url,
    )
    for key, value in result.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
