"""octollm vs raw Celery, same shapes, same Redis, same run.

    .venv/bin/python -m benchmarks.run [--runs 50] [--tasks 1000] [--output docs/benchmarks.md]
    .venv/bin/python -m benchmarks.run --fair-compare [--tasks 1000] [--rounds 3] [--output ...]

Measures, for each side:
* end-to-end latency of a 3-step chain (p50/p95 over ``--runs`` runs);
* end-to-end latency of a 10-wide fan-out + fan-in (a chord);
* throughput of ``--tasks`` independent single-step tasks (submit all, wait for all).

octollm: a plan of ``noop`` plugin-arm steps submitted with ``lifecycle.submit`` (Postgres rows,
outbox, claims, leases, outputs, events), completion observed on the ``task.completed`` event
channel. Raw Celery: the same canvas of a no-op task on its own queue, completion observed
with ``AsyncResult.get()``. Both sides use the same broker and transport settings, their own
queue names, and workers this script starts and stops itself (threads pool, same concurrency).

``--fair-compare`` measures only the throughput, of octollm with fair dispatch off and on
(``orchestrator.fair_dispatch``; each side its own database, queues and workers), round by
round alternately, and reports the median of each side and their ratio.

Services: the machine's Redis (``BENCH_REDIS_URL``, default DB 9; nothing is flushed) and
Postgres (``OCTOLLM_TEST_PG_ADMIN_URL``; a throwaway database is created and dropped).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get(
    "OCTOLLM_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
CONCURRENCY = 8


def chain3() -> dict[str, Any]:
    return {
        "steps": [
            {"step_id": "s1", "arm": "noop", "action": "noop"},
            {"step_id": "s2", "arm": "noop", "action": "noop", "depends_on": ["s1"]},
            {"step_id": "s3", "arm": "noop", "action": "noop", "depends_on": ["s2"]},
        ]
    }


def fan10() -> dict[str, Any]:
    fan = [{"step_id": f"f{i}", "arm": "noop", "action": "noop"} for i in range(10)]
    join = {
        "step_id": "join",
        "arm": "noop",
        "action": "noop",
        "depends_on": [f"f{i}" for i in range(10)],
    }
    return {"steps": [*fan, join]}


def single() -> dict[str, Any]:
    return {"steps": [{"step_id": "only", "arm": "noop", "action": "noop"}]}


# -- octollm side --------------------------------------------------------------------------------


class Completions:
    """Task ids from the ``task.completed``/``task.failed`` channels, with arrival times."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        # live channels are per tenant: octollm:events:tenant:{tenant}:{event_type}
        self.pubsub.psubscribe(
            "octollm:events:tenant:*:task.completed", "octollm:events:tenant:*:task.failed"
        )
        self.seen: dict[str, tuple[float, str]] = {}
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._listen, daemon=True, name="completions")
        self.thread.start()

    def _listen(self) -> None:
        import json

        try:
            for message in self.pubsub.listen():
                if message["type"] not in ("message", "pmessage"):
                    continue
                body = json.loads(message["data"])
                with self.cond:
                    self.seen[body["task_id"]] = (time.perf_counter(), body["event_type"])
                    self.cond.notify_all()
        except (redis.RedisError, ValueError, OSError):
            return  # closed

    def wait(self, task_ids: list[str], timeout: float = 120.0) -> float:
        """Block until every id completed; returns the last arrival time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(t in self.seen for t in task_ids):
                if not self.cond.wait(max(0.0, deadline - time.monotonic())):
                    missing = [t for t in task_ids if t not in self.seen]
                    raise TimeoutError(f"{len(missing)} tasks did not finish, e.g. {missing[:3]}")
            failed = [t for t in task_ids if self.seen[t][1] != "task.completed"]
            if failed:
                raise RuntimeError(f"{len(failed)} tasks failed, e.g. {failed[:3]}")
            return max(self.seen[t][0] for t in task_ids)

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@dataclass
class Octollm:
    prefix: str
    database_url: str
    env: dict[str, str]
    rt: Any = None
    completions: Completions | None = None
    procs: list[Any] = field(default_factory=list)
    #: With fair dispatch: a dispatcher pass every ``fair_tick_seconds``, as celery beat would.
    ticker: threading.Event | None = None

    def start(self, logs: Path) -> None:
        from celery import Celery

        from benchmarks import workers
        from octollm.config import Settings
        from octollm.events import RedisEventBus
        from octollm.orchestrator.broker import queues as routing
        from octollm.orchestrator.broker.config import build
        from octollm.orchestrator.broker.result_backend import backend_url
        from octollm.orchestrator.runtime import Runtime
        from octollm.store.db import Database

        os.environ.update({k: v for k, v in self.env.items() if k.startswith("OCTOLLM_")})
        settings = Settings()
        app = Celery(f"bench-client-{self.prefix}", set_as_current=False)
        app.conf.update(build(settings))
        app.conf.result_backend = backend_url(app.conf.result_backend)
        self.rt = Runtime(
            settings, Database(self.database_url), app, RedisEventBus.from_url(REDIS_URL)
        )
        self.completions = Completions(REDIS_URL)
        if settings.orchestrator.fair_dispatch:
            self._tick(settings.orchestrator.fair_tick_seconds)
        for arm, concurrency in (("orchestrator", 4), ("noop", CONCURRENCY)):
            name = f"{self.prefix}-{arm}@bench"
            queues = ",".join(routing.queue_names_for(self.prefix, [arm], REDIS_URL))
            argv = ["-A", "octollm.worker.app", "worker", "-P", "threads", "-c", str(concurrency),
                    "-Q", queues, "-n", name, "--prefetch-multiplier", "1",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
            self.procs.append(
                workers.start(argv, self.env, logs / f"octollm-{arm}.log", _pinger(app, name))
            )

    def _tick(self, interval: float) -> None:
        from octollm.orchestrator.fairness import dispatcher

        stop = self.ticker = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                dispatcher.kick(self.rt)

        threading.Thread(target=loop, daemon=True, name="fair-tick").start()

    def run(self, plan: dict[str, Any], n: int = 1) -> float:
        """Submit ``n`` tasks of ``plan``; seconds until the last completed."""
        from octollm.contracts import TaskContract
        from octollm.orchestrator.engine import lifecycle

        assert self.completions is not None
        contracts = [TaskContract(goal="benchmark no-op plan", plan=plan) for _ in range(n)]
        t0 = time.perf_counter()
        ids = [lifecycle.submit(self.rt, c).id for c in contracts]
        return self.completions.wait(ids, timeout=60 + n * 0.2) - t0

    def stop(self) -> None:
        from benchmarks import workers

        if self.ticker:
            self.ticker.set()
        for proc in self.procs:
            workers.stop(proc)
        if self.completions:
            self.completions.close()
        if self.rt:
            self.rt.db.dispose()


# -- raw Celery side ------------------------------------------------------------------------------


@dataclass
class Raw:
    queue: str
    env: dict[str, str]
    procs: list[Any] = field(default_factory=list)

    def start(self, logs: Path) -> None:
        from benchmarks import workers

        os.environ["BENCH_BROKER_URL"], os.environ["BENCH_QUEUE"] = REDIS_URL, self.queue
        from benchmarks.raw_app import app

        env = {**self.env, "BENCH_BROKER_URL": REDIS_URL, "BENCH_QUEUE": self.queue}
        name = f"{self.queue}@bench"
        argv = ["-A", "benchmarks.raw_app", "worker", "-P", "threads", "-c", str(CONCURRENCY),
                "-Q", self.queue, "-n", name, "--prefetch-multiplier", "1", "-l", "WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        self.procs.append(workers.start(argv, env, logs / "raw.log", _pinger(app, name)))

    def run(self, shape: str, n: int = 1) -> float:
        from celery import chain, chord, group

        from benchmarks.raw_app import noop

        t0 = time.perf_counter()
        if shape == "chain3":
            chain(noop.si(), noop.si(), noop.si()).apply_async(queue=self.queue).get(timeout=60)
        elif shape == "fan10":
            chord(group(noop.si() for _ in range(10)), noop.si()).apply_async(queue=self.queue).get(
                timeout=60
            )
        else:
            results = [noop.apply_async(queue=self.queue) for _ in range(n)]
            for r in results:
                r.get(timeout=60 + n * 0.2)
        return time.perf_counter() - t0

    def stop(self) -> None:
        from benchmarks import workers

        for proc in self.procs:
            workers.stop(proc)


def _pinger(app: Any, name: str) -> Callable[[], bool]:
    return lambda: bool(app.control.ping(destination=[name], timeout=0.5))


# -- measuring ------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latencies(
    raw: Callable[[], float], octo: Callable[[], float], runs: int, warmup: int = 5
) -> tuple[dict[str, float], dict[str, float]]:
    """Alternate the two sides run by run, so load from elsewhere on the machine hits both."""
    for _ in range(warmup):
        raw()
        octo()
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for side, fn in enumerate((raw, octo)):
            samples[side].append(fn() * 1000)
            time.sleep(0.05)  # let trailing work (e.g. octollm's finalize message) settle

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "mean": statistics.fmean(values),
        }

    return stats(samples[0]), stats(samples[1])


@contextmanager
def throwaway_database() -> Iterator[str]:
    from octollm.store.migrate import upgrade

    name = f"octollm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    url = f"{admin}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def machine() -> dict[str, str]:
    import celery
    import kombu

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )  # fmt: skip
    client = redis.Redis.from_url(REDIS_URL)
    with psycopg.connect(PG_ADMIN) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "redis-py": redis.__version__,
        "redis": str(client.info("server")["redis_version"]),
        "postgres": str(row[0]) if row else "?",
    }


def measure(runs: int, tasks: int, logs: Path) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("OCTOLLM_", "BENCH_"))}
    results: dict[str, Any] = {}
    with throwaway_database() as db_url:
        env = {
            **base_env,
            "OCTOLLM_DATABASE__URL": db_url,
            "OCTOLLM_BROKER__URL": REDIS_URL,
            "OCTOLLM_QUEUE_PREFIX": prefix,
            "OCTOLLM_ARM_PLUGINS": "benchmarks.noop_arm:NoopArm",
            "OCTOLLM_LOG__LEVEL": "WARNING",
            "OCTOLLM_LOG__JSON_OUTPUT": "true",
        }
        octo, raw = Octollm(prefix, db_url, env), Raw(f"{prefix}-raw", base_env)
        try:
            octo.start(logs)
            raw.start(logs)
            print(f"workers up; prefix {prefix}", flush=True)
            for shape, plan in (("chain3", chain3()), ("fan10", fan10())):
                results[f"{shape}.raw"], results[f"{shape}.octollm"] = latencies(
                    lambda s=shape: raw.run(s), lambda p=plan: octo.run(p), runs
                )
                print(shape, results[f"{shape}.raw"], results[f"{shape}.octollm"], flush=True)
            raw.run("single", 50)
            octo.run(single(), 50)
            results["throughput.raw"] = tasks / raw.run("single", tasks)
            results["throughput.octollm"] = tasks / octo.run(single(), tasks)
            print(
                "throughput", results["throughput.raw"], results["throughput.octollm"], flush=True
            )
        finally:
            octo.stop()
            raw.stop()
    return results


def measure_fair(tasks: int, rounds: int, logs: Path) -> dict[str, Any]:
    """Throughput of single-step tasks with fair dispatch off and on, alternating rounds."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("OCTOLLM_", "BENCH_"))}
    samples: dict[str, list[float]] = {"off": [], "on": []}
    with throwaway_database() as off_db, throwaway_database() as on_db:
        sides: dict[str, Octollm] = {}
        try:
            for mode, db_url in (("off", off_db), ("on", on_db)):
                prefix = f"bench{mode}{uuid.uuid4().hex[:6]}"
                env = {
                    **base_env,
                    "OCTOLLM_DATABASE__URL": db_url,
                    "OCTOLLM_BROKER__URL": REDIS_URL,
                    "OCTOLLM_QUEUE_PREFIX": prefix,
                    "OCTOLLM_ARM_PLUGINS": "benchmarks.noop_arm:NoopArm",
                    "OCTOLLM_LOG__LEVEL": "WARNING",
                    "OCTOLLM_LOG__JSON_OUTPUT": "true",
                    "OCTOLLM_ORCHESTRATOR__FAIR_DISPATCH": "true" if mode == "on" else "false",
                }
                sides[mode] = Octollm(prefix, db_url, env)
                sides[mode].start(logs / mode)
            for side in sides.values():
                side.run(single(), 50)  # warm-up
            for _ in range(rounds):
                for mode, side in sides.items():
                    samples[mode].append(tasks / side.run(single(), tasks))
                    print("throughput", mode, round(samples[mode][-1], 1), flush=True)
        finally:
            for side in sides.values():
                side.stop()
    return {mode: statistics.median(values) for mode, values in samples.items()} | {
        "samples": samples
    }


def fair_report(results: dict[str, Any], info: dict[str, str], command: str, tasks: int) -> str:
    off, on = results["off"], results["on"]
    pairs = zip(results["samples"]["off"], results["samples"]["on"], strict=True)
    rounds = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in pairs)
    machine_line = ", ".join(f"{k} {v}" for k, v in info.items())
    head = f"| {tasks} single-step tasks | fair dispatch off | fair dispatch on | on / off |"
    return f"""{head}
|---|---|---|---|
| throughput (median of rounds) | {off:.1f} tasks/s | {on:.1f} tasks/s | {on / off:.2f} |

Rounds (off/on tasks/s): {rounds}.
Command: `{command}`.
Machine: {machine_line}.
"""


def report(
    results: dict[str, Any], info: dict[str, str], command: str, runs: int, tasks: int
) -> str:
    def row(name: str, shape: str) -> str:
        r, o = results[f"{shape}.raw"], results[f"{shape}.octollm"]
        return (f"| {name} | {r['p50']:.1f} / {r['p95']:.1f} ms "
                f"| {o['p50']:.1f} / {o['p95']:.1f} ms "
                f"| {o['p50'] / r['p50']:.1f}x / {o['p95'] / r['p95']:.1f}x |")  # fmt: skip

    tr, to = results["throughput.raw"], results["throughput.octollm"]
    machine_line = ", ".join(f"{k} {v}" for k, v in info.items())
    return f"""| what | raw Celery p50 / p95 | octollm p50 / p95 | octollm / raw |
|---|---|---|---|
{row("3-step chain, end to end", "chain3")}
{row("10-wide fan-out + fan-in, end to end", "fan10")}
| {tasks} independent single-step tasks | {tr:.0f} tasks/s | {to:.0f} tasks/s \
| {tr / to:.1f}x slower |

Command: `{command}` ({runs} timed runs per latency after 5 warm-up runs).
Machine: {machine_line}.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument(
        "--output", type=Path, default=None, help="update the results section of this markdown file"
    )
    parser.add_argument("--logs", type=Path, default=Path("/tmp") / "octollm-bench")  # noqa: S108
    parser.add_argument(
        "--fair-compare",
        action="store_true",
        help="measure only the throughput, with fair dispatch off and on",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side (--fair-compare)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    info = machine()
    if args.fair_compare:
        command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
        table = fair_report(
            measure_fair(args.tasks, args.rounds, args.logs), info, command.strip(), args.tasks
        )
        print(table)
        if args.output:
            write_results(args.output, table, FAIR_BEGIN, FAIR_END)
        return 0
    results = measure(args.runs, args.tasks, args.logs)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    table = report(results, info, command.strip(), args.runs, args.tasks)
    print(table)
    if args.output:
        write_results(args.output, table)
    return 0


BEGIN, END = "<!-- results: written by benchmarks/run.py -->", "<!-- /results -->"
FAIR_BEGIN = "<!-- fair results: written by benchmarks/run.py --fair-compare -->"
FAIR_END = "<!-- /fair results -->"


def write_results(path: Path, table: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the marked results section of ``path`` (or append the table, marked)."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        path.write_text(f"{head}{begin}\n{table}{end}{tail}")
    else:
        path.write_text(f"{text}{begin}\n{table}{end}\n")


if __name__ == "__main__":
    raise SystemExit(main())
