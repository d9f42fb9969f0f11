"""Redis commands per step, counted with ``MONITOR``: octollm with and without Celery task events
(``flower.task_events``), and raw Celery, on the same shapes.

    PYTHONPATH=. .venv/bin/python -m benchmarks.redis_ops [--tasks 50]

For each side: start its workers (as ``benchmarks.run`` does), submit ``--tasks`` single-step
tasks and ``--tasks`` 3-step chains, wait for all, and count the commands ``MONITOR`` saw on the
benchmark's Redis database while they ran (the client's, the workers' and the result backend's;
idle polling included: workers' ``BRPOP`` loops). Counts do not depend on machine load the way
timings do, but the idle polling share does (a slower run polls more): compare the named
commands, not only the totals.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from benchmarks.run import (
    REDIS_URL,
    Octollm,
    Raw,
    clean_env,
    octollm_env,
    plan_for,
    throwaway_database,
)

#: Blocking reads and their bookkeeping: a worker's idle loop, counted apart.
POLLING = {"BRPOP", "BZPOPMIN", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "MULTI", "EXEC", "PING"}


class Monitor:
    """Count the commands run on ``db`` of ``url`` while active."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db", 0))
        self.counts: Counter[str] = Counter()
        self.active = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        time.sleep(0.5)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            for cmd in monitor.listen():
                if self.active and int(cmd.get("db", -1)) == self.db:
                    self.counts[str(cmd["command"]).split(" ", 1)[0].upper()] += 1

    def count(self, fn: Any) -> Counter[str]:
        self.counts = Counter()
        self.active = True
        try:
            fn()
        finally:
            time.sleep(0.5)  # trailing acks and events
            self.active = False
        return Counter(self.counts)


def summarise(label: str, counts: Counter[str], steps: int) -> str:
    work = {k: v for k, v in counts.items() if k not in POLLING}
    top = ", ".join(f"{k} {v / steps:.1f}" for k, v in sorted(work.items(), key=lambda kv: -kv[1]))
    polling = sum(v for k, v in counts.items() if k in POLLING)
    return f"| {label} | {sum(work.values()) / steps:.1f} | {polling / steps:.1f} | {top} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--logs", type=Path, default=Path("/tmp") / "octollm-redis-ops")  # noqa: S108
    args = parser.parse_args()
    n = args.tasks
    monitor = Monitor(REDIS_URL)
    rows = [
        "| side, shape | commands per step (work) | idle polling per step | work commands per "
        "step |",
        "|---|---|---|---|",
    ]
    base_env = clean_env()
    for events in ("false", "true"):
        prefix = f"ops{uuid.uuid4().hex[:6]}"
        with throwaway_database() as db_url:
            env = octollm_env(db_url, prefix, FLOWER__TASK_EVENTS=events)
            octo = Octollm(prefix, db_url, env)
            try:
                octo.start(args.logs)
                octo.run(plan_for("single"), 5)
                label = f"octollm, task events {'on' if events == 'true' else 'off'}"
                single = monitor.count(lambda o=octo: o.run(plan_for("single"), n))
                rows.append(summarise(f"{label}, single-step task", single, n))
                chain = monitor.count(lambda o=octo: o.run(plan_for("chain3"), n))
                rows.append(summarise(f"{label}, 3-step chain", chain, 3 * n))
                if events == "false":
                    footprint = storage(db_url, 2 * n + 5)
            finally:
                octo.stop()
                os.environ.pop("OCTOLLM_FLOWER__TASK_EVENTS", None)
    raw = Raw(f"ops{uuid.uuid4().hex[:6]}-raw", base_env)
    try:
        raw.start(args.logs)
        raw.run("single", 5)
        rows.append(summarise("raw Celery, single task", monitor.count(
            lambda: raw.run("single", n)), n))  # fmt: skip
        chain = monitor.count(lambda: [raw.run("chain3") for _ in range(n)])
        rows.append(summarise("raw Celery, 3-task chain", chain, 3 * n))
    finally:
        raw.stop()
    print("\n".join(rows))
    print()
    print(footprint)
    return 0


def storage(db_url: str, tasks: int) -> str:
    """Postgres rows and bytes (tables with their indexes and TOAST) per task, after the runs."""
    import psycopg

    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    tables = ("tasks", "steps", "step_results", "outbox", "task_rounds", "security_events")
    lines = ["| table | rows per task | bytes per task (with indexes) |", "|---|---|---|"]
    with psycopg.connect(url) as conn:
        for table in tables:
            found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if not found or found[0] is None:
                continue
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()
            assert count is not None
            assert size is not None
            lines.append(f"| {table} | {count[0] / tasks:.2f} | {size[0] / tasks:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
