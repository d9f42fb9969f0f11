"""octollm vs raw Celery, same shapes, same Redis, same run.

    .venv/bin/python -m benchmarks.run --runs 3 --curves --output docs/benchmarks.md
    .venv/bin/python -m benchmarks.run --quick            # a few minutes: smaller everything
    .venv/bin/python -m benchmarks.run --fair-compare [--tasks 1000] [--rounds 3] [--output ...]

Measures, for each side, in every one of ``--runs`` runs (the page reports each ratio's best
and median over the runs; a ratio is always taken within one run):
* end-to-end latency (p50/p95 over ``--samples`` runs) of a 3-step chain, a 10-wide fan-out +
  fan-in (a chord), and (``--samples // 5`` runs, at least 5) a 100-wide fan-out + fan-in and a
  20-deep chain;
* throughput of ``--tasks`` independent single-step tasks submitted from one client (submit
  all, wait for all), and through the API from 4 concurrent clients (raw Celery: 4 concurrent
  publishers).

``--curves`` adds scaling curves (a table and a PNG plot, ``--plot``): throughput against worker
processes (1, 2, 4 prefork processes in the arm's pool, both sides), latency against DAG width
(1, 10, 100, 1,000) and depth (1, 5, 20).

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


#: The largest plan octollm accepts (``contracts.plan.MAX_PLAN_STEPS``): wider fans are raw only.
MAX_PLAN_STEPS = 200
API_CLIENTS = 4


def shape_size(shape: str) -> tuple[str, int]:
    """``chain3`` -> ("chain", 3), ``fan100`` -> ("fan", 100), ``single`` -> ("single", 1)."""
    kind = shape.rstrip("0123456789")
    return kind, int(shape[len(kind) :] or 1)


def plan_for(shape: str) -> dict[str, Any]:
    """A chain of N steps, N parallel steps and a join, or one step, all ``noop``."""
    kind, n = shape_size(shape)
    if kind == "chain":
        return {
            "steps": [
                {"step_id": f"s{i}", "arm": "noop", "action": "noop",
                 "depends_on": [f"s{i - 1}"] if i else []}
                for i in range(n)
            ]
        }  # fmt: skip
    if kind == "fan":
        fan = [{"step_id": f"f{i}", "arm": "noop", "action": "noop"} for i in range(n)]
        join = {"step_id": "join", "arm": "noop", "action": "noop",
                "depends_on": [f"f{i}" for i in range(n)]}  # fmt: skip
        return {"steps": [*fan, join]}
    return {"steps": [{"step_id": "only", "arm": "noop", "action": "noop"}]}


def fits_a_plan(shape: str) -> bool:
    kind, n = shape_size(shape)
    return (n + 1 if kind == "fan" else n) <= MAX_PLAN_STEPS


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


#: The API's limits for the benchmark: no rate limit, the benchmark's arms count as ready.
API_SETTINGS: dict[str, Any] = {
    "rate_limits": {
        name: {"rate": 100_000, "burst": 100_000}
        for name in ("submit", "submit_per_key", "read", "read_per_key")
    },
    "ready_arms": ["orchestrator", "noop"],
}


@dataclass
class Octollm:
    prefix: str
    database_url: str
    env: dict[str, str]
    rt: Any = None
    app: Any = None
    completions: Completions | None = None
    procs: dict[str, Any] = field(default_factory=dict)
    api: Any = None
    api_url: str = ""
    api_key: str = ""
    #: With fair dispatch: a dispatcher pass every ``fair_tick_seconds``, as celery beat would.
    ticker: threading.Event | None = None

    def start(self, logs: Path) -> None:
        from celery import Celery

        from octollm.config import Settings
        from octollm.events import RedisEventBus
        from octollm.orchestrator.broker.config import build
        from octollm.orchestrator.broker.result_backend import backend_url
        from octollm.orchestrator.runtime import Runtime
        from octollm.store.db import Database

        os.environ.update({k: v for k, v in self.env.items() if k.startswith("OCTOLLM_")})
        settings = Settings()
        self.app = app = Celery(f"bench-client-{self.prefix}", set_as_current=False)
        app.conf.update(build(settings))
        app.conf.result_backend = backend_url(app.conf.result_backend)
        self.rt = Runtime(
            settings, Database(self.database_url), app, RedisEventBus.from_url(REDIS_URL)
        )
        self.completions = Completions(REDIS_URL)
        if settings.orchestrator.fair_dispatch:
            self._tick(settings.orchestrator.fair_tick_seconds)
        self.start_pool("orchestrator", "threads", 4, logs)
        self.start_pool("noop", "threads", CONCURRENCY, logs)

    def start_pool(self, arm: str, pool: str, concurrency: int, logs: Path) -> None:
        """(Re)start the workers of ``arm``: ``pool`` (threads, prefork) x ``concurrency``."""
        from benchmarks import workers
        from octollm.orchestrator.broker import queues as routing

        if arm in self.procs:
            workers.stop(self.procs.pop(arm))
        name = f"{self.prefix}-{arm}-{pool}{concurrency}@bench"
        queues = ",".join(routing.queue_names_for(self.prefix, [arm], REDIS_URL))
        argv = ["-A", "octollm.worker.app", "worker", "-P", pool, "-c", str(concurrency),
                "-Q", queues, "-n", name, "--prefetch-multiplier", "1",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        self.procs[arm] = workers.start(
            argv, self.env, logs / f"octollm-{arm}.log", _pinger(self.app, name)
        )

    def start_api(self, logs: Path) -> None:
        """One uvicorn process serving the API on this run's database and queues."""
        import json

        import httpx

        from benchmarks import workers
        from octollm.security import apikeys

        port = _free_port()
        env = dict(self.env)
        for name, value in API_SETTINGS.items():
            env[f"OCTOLLM_API__{name.upper()}"] = json.dumps(value)
        argv = ["-m", "uvicorn", "--factory", "octollm.api.app:create_app", "--host",
                "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
        self.api_url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self.api = workers.start(argv, env, logs / "octollm-api.log", ready, python=True)
        self.api_key = apikeys.create_key(
            self.rt.db, "bench", sorted(apikeys.ALL_SCOPES - {"admin"})
        )[1]

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

    def run_api(self, n: int, clients: int = API_CLIENTS) -> float:
        """``n`` single-step tasks through ``POST /api/v1/tasks`` from ``clients`` concurrent
        clients (one keep-alive connection each); seconds until the last completed."""
        import httpx

        assert self.completions is not None
        plan = plan_for("single")
        headers = {"X-API-Key": self.api_key}
        ids: list[str] = []
        errors: list[str] = []

        def client(count: int) -> None:
            with httpx.Client(base_url=self.api_url, timeout=60) as http:
                for _ in range(count):
                    # a distinct goal each: the API answers a repeated submit with the first
                    body = {"goal": f"benchmark no-op plan {uuid.uuid4().hex}", "plan": plan}
                    resp = http.post("/api/v1/tasks", json=body, headers=headers)
                    if resp.status_code != 202:
                        errors.append(f"{resp.status_code} {resp.text[:200]}")
                        continue
                    ids.append(resp.json()["task_id"])

        t0 = time.perf_counter()
        _in_threads(client, n, clients)
        if errors:
            raise RuntimeError(f"{len(errors)} submits refused, e.g. {errors[0]}")
        return self.completions.wait(ids, timeout=60 + n * 0.2) - t0

    def stop(self) -> None:
        from benchmarks import workers

        if self.ticker:
            self.ticker.set()
        if self.api is not None:
            workers.stop(self.api)
        for proc in self.procs.values():
            workers.stop(proc)
        if self.completions:
            self.completions.close()
        if self.rt:
            self.rt.db.dispose()


def _in_threads(fn: Callable[[int], None], n: int, threads: int) -> None:
    """Run ``fn(count)`` in ``threads`` threads, the counts adding up to ``n``."""
    counts = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    failures: list[BaseException] = []

    def guarded(count: int) -> None:
        try:
            fn(count)
        except BaseException as exc:  # re-raised below
            failures.append(exc)

    pool = [threading.Thread(target=guarded, args=(c,)) for c in counts]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise failures[0]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- raw Celery side ------------------------------------------------------------------------------


@dataclass
class Raw:
    queue: str
    env: dict[str, str]
    procs: list[Any] = field(default_factory=list)
    app: Any = None

    def start(self, logs: Path) -> None:
        os.environ["BENCH_BROKER_URL"], os.environ["BENCH_QUEUE"] = REDIS_URL, self.queue
        from benchmarks.raw_app import app

        self.app = app
        self.start_pool("threads", CONCURRENCY, logs)

    def start_pool(self, pool: str, concurrency: int, logs: Path) -> None:
        from benchmarks import workers

        for proc in self.procs:
            workers.stop(proc)
        self.procs.clear()
        env = {**self.env, "BENCH_BROKER_URL": REDIS_URL, "BENCH_QUEUE": self.queue}
        name = f"{self.queue}-{pool}{concurrency}@bench"
        argv = ["-A", "benchmarks.raw_app", "worker", "-P", pool, "-c", str(concurrency),
                "-Q", self.queue, "-n", name, "--prefetch-multiplier", "1", "-l", "WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        self.procs.append(workers.start(argv, env, logs / "raw.log", _pinger(self.app, name)))

    def run(self, shape: str, n: int = 1) -> float:
        from celery import chain, chord, group

        from benchmarks.raw_app import noop

        kind, size = shape_size(shape)
        t0 = time.perf_counter()
        if kind == "chain":
            chain(*(noop.si() for _ in range(size))).apply_async(queue=self.queue).get(timeout=300)
        elif kind == "fan":
            header = group(noop.si() for _ in range(size))
            chord(header, noop.si()).apply_async(queue=self.queue).get(timeout=300)
        else:
            results = [noop.apply_async(queue=self.queue) for _ in range(n)]
            for r in results:
                r.get(timeout=60 + n * 0.2)
        return time.perf_counter() - t0

    def run_concurrent(self, n: int, publishers: int = API_CLIENTS) -> float:
        """``n`` single tasks from ``publishers`` concurrent publishers; until the last is done."""
        from benchmarks.raw_app import noop

        results: list[Any] = []

        def publish(count: int) -> None:
            results.extend(noop.apply_async(queue=self.queue) for _ in range(count))

        t0 = time.perf_counter()
        _in_threads(publish, n, publishers)
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
    raw: Callable[[], float],
    octo: Callable[[], float] | None,
    runs: int,
    warmup: int = 5,
) -> tuple[dict[str, float], dict[str, float] | None]:
    """Alternate the two sides run by run, so load from elsewhere on the machine hits both.

    ``octo`` None: the raw side alone (a shape octollm does not accept)."""
    sides = [raw] if octo is None else [raw, octo]
    for _ in range(warmup):
        for fn in sides:
            fn()
    samples: list[list[float]] = [[] for _ in sides]
    for _ in range(runs):
        for side, fn in enumerate(sides):
            samples[side].append(fn() * 1000)
            time.sleep(0.05)  # let trailing work (e.g. octollm's finalize message) settle

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "mean": statistics.fmean(values),
        }

    return stats(samples[0]), (stats(samples[1]) if octo is not None else None)


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


#: (shape, label) of the latency scenarios; the heavy ones get a fifth of the samples.
LATENCY_SHAPES = [
    ("chain3", "3-step chain, end to end"),
    ("fan10", "10-wide fan-out + fan-in, end to end"),
    ("fan100", "100-wide fan-out + fan-in, end to end"),
    ("chain20", "20-deep chain, end to end"),
]
HEAVY = {"fan100", "chain20"}
WIDTHS, DEPTHS, PROCESSES = (1, 10, 100, 1000), (1, 5, 20), (1, 2, 4)


@dataclass
class Options:
    runs: int = 3
    samples: int = 50
    tasks: int = 1000
    curves: bool = False
    curve_samples: int = 5
    curve_tasks: int = 500


def clean_env() -> dict[str, str]:
    """This process's environment without any ``OCTOLLM_*`` or ``BENCH_*`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OCTOLLM_", "BENCH_"))}


def octollm_env(db_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """The octollm side's environment: this run's database, Redis, queue prefix, the no-op
    plugin arm, warnings only; ``extra`` adds ``OCTOLLM_*`` settings (``LOG__JSON_OUTPUT=...``)."""
    return {
        **clean_env(),
        "OCTOLLM_DATABASE__URL": db_url,
        "OCTOLLM_BROKER__URL": REDIS_URL,
        "OCTOLLM_QUEUE_PREFIX": prefix,
        "OCTOLLM_ARM_PLUGINS": "benchmarks.noop_arm:NoopArm",
        "OCTOLLM_LOG__LEVEL": "WARNING",
        **{f"OCTOLLM_{name}": value for name, value in extra.items()},
    }


def measure(opts: Options, logs: Path) -> dict[str, Any]:
    """Every run's results (``runs``) and, with ``opts.curves``, the scaling curves."""
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    out: dict[str, Any] = {"runs": [], "curves": {}}
    with throwaway_database() as db_url:
        env = octollm_env(db_url, prefix, LOG__JSON_OUTPUT="true")
        octo, raw = Octollm(prefix, db_url, env), Raw(f"{prefix}-raw", clean_env())
        try:
            octo.start(logs)
            octo.start_api(logs)
            raw.start(logs)
            print(f"workers and API up; prefix {prefix}", flush=True)
            raw.run("single", 50)
            octo.run(plan_for("single"), 50)
            for number in range(opts.runs):
                out["runs"].append(one_run(opts, octo, raw))
                print(f"run {number + 1} of {opts.runs}: {out['runs'][-1]}", flush=True)
            if opts.curves:
                out["curves"] = curves(opts, octo, raw, logs)
        finally:
            octo.stop()
            raw.stop()
    return out


def one_run(opts: Options, octo: Octollm, raw: Raw) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for shape, _ in LATENCY_SHAPES:
        samples = max(5, opts.samples // 5) if shape in HEAVY else opts.samples
        warmup = 2 if shape in HEAVY else 5
        plan = plan_for(shape)
        results[f"{shape}.raw"], results[f"{shape}.octollm"] = latencies(
            lambda s=shape: raw.run(s), lambda p=plan: octo.run(p), samples, warmup
        )
    results["throughput.raw"] = opts.tasks / raw.run("single", opts.tasks)
    results["throughput.octollm"] = opts.tasks / octo.run(plan_for("single"), opts.tasks)
    results["api.raw"] = opts.tasks / raw.run_concurrent(opts.tasks)
    results["api.octollm"] = opts.tasks / octo.run_api(opts.tasks)
    return results


def curves(opts: Options, octo: Octollm, raw: Raw, logs: Path) -> dict[str, Any]:
    """Latency against width and depth (p50), throughput against worker processes."""
    found: dict[str, Any] = {"width": {}, "depth": {}, "processes": {}}
    for axis, shapes in (("width", [f"fan{w}" for w in WIDTHS]),
                         ("depth", [f"chain{d}" for d in DEPTHS])):  # fmt: skip
        for shape in shapes:
            plan = plan_for(shape)
            octo_fn = (lambda p=plan: octo.run(p)) if fits_a_plan(shape) else None
            r, o = latencies(lambda s=shape: raw.run(s), octo_fn, opts.curve_samples, warmup=1)
            found[axis][shape_size(shape)[1]] = (r["p50"], o["p50"] if o else None)
            print(axis, shape, found[axis][shape_size(shape)[1]], flush=True)
    for processes in PROCESSES:
        raw.start_pool("prefork", processes, logs)
        octo.start_pool("noop", "prefork", processes, logs)
        raw.run("single", 20)
        octo.run(plan_for("single"), 20)
        found["processes"][processes] = (
            opts.curve_tasks / raw.run("single", opts.curve_tasks),
            opts.curve_tasks / octo.run(plan_for("single"), opts.curve_tasks),
        )
        print("processes", processes, found["processes"][processes], flush=True)
    return found


def measure_fair(tasks: int, rounds: int, logs: Path) -> dict[str, Any]:
    """Throughput of single-step tasks with fair dispatch off and on, alternating rounds."""
    samples: dict[str, list[float]] = {"off": [], "on": []}
    with throwaway_database() as off_db, throwaway_database() as on_db:
        sides: dict[str, Octollm] = {}
        try:
            for mode, db_url in (("off", off_db), ("on", on_db)):
                prefix = f"bench{mode}{uuid.uuid4().hex[:6]}"
                env = octollm_env(
                    db_url,
                    prefix,
                    LOG__JSON_OUTPUT="true",
                    ORCHESTRATOR__FAIR_DISPATCH="true" if mode == "on" else "false",
                )
                sides[mode] = Octollm(prefix, db_url, env)
                sides[mode].start(logs / mode)
            for side in sides.values():
                side.run(plan_for("single"), 50)  # warm-up
            for _ in range(rounds):
                for mode, side in sides.items():
                    samples[mode].append(tasks / side.run(plan_for("single"), tasks))
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


def report(out: dict[str, Any], info: dict[str, str], command: str, opts: Options) -> str:
    runs = out["runs"]

    def summary(ratios: list[float], lower_is_better: bool = True) -> tuple[float, float]:
        best = min(ratios) if lower_is_better else max(ratios)
        return best, statistics.median(ratios)

    lines = [
        f"| what | raw Celery (median run) | octollm (median run) "
        f"| octollm / raw, median of {len(runs)} | best of {len(runs)} |",
        "|---|---|---|---|---|",
    ]
    for shape, label in LATENCY_SHAPES:
        p50s = [r[f"{shape}.octollm"]["p50"] / r[f"{shape}.raw"]["p50"] for r in runs]
        p95s = [r[f"{shape}.octollm"]["p95"] / r[f"{shape}.raw"]["p95"] for r in runs]
        median_run = runs[sorted(range(len(runs)), key=lambda i: p50s[i])[len(runs) // 2]]
        rr, oo = median_run[f"{shape}.raw"], median_run[f"{shape}.octollm"]
        b50, m50 = summary(p50s)
        b95, m95 = summary(p95s)
        lines.append(
            f"| {label} (p50 / p95) | {rr['p50']:.1f} / {rr['p95']:.1f} ms "
            f"| {oo['p50']:.1f} / {oo['p95']:.1f} ms | {m50:.1f}x / {m95:.1f}x "
            f"| {b50:.1f}x / {b95:.1f}x |"
        )
    for key, label in (
        ("throughput", f"{opts.tasks} single-step tasks, one client"),
        ("api", f"{opts.tasks} single-step tasks, {API_CLIENTS} clients "
                f"(octollm: through the API; raw: {API_CLIENTS} publishers)"),
    ):  # fmt: skip
        ratios = [r[f"{key}.octollm"] / r[f"{key}.raw"] for r in runs]
        median_run = runs[sorted(range(len(runs)), key=lambda i: ratios[i])[len(runs) // 2]]
        best, median = summary(ratios, lower_is_better=False)
        lines.append(
            f"| {label} | {median_run[f'{key}.raw']:.0f} tasks/s "
            f"| {median_run[f'{key}.octollm']:.0f} tasks/s | {median:.2f}x raw throughput "
            f"| {best:.2f}x |"
        )
    text = "\n".join(lines) + "\n"
    if out["curves"]:
        text += "\n" + curves_table(out["curves"], opts) + "\n"
    machine_line = ", ".join(f"{k} {v}" for k, v in info.items())
    samples = f"{opts.samples} timed runs per latency after 5 warm-up runs"
    heavy = f"{max(5, opts.samples // 5)} after 2 for the 100-wide and 20-deep shapes"
    text += f"\nCommand: `{command}` ({len(runs)} runs; in each, {samples}, {heavy}).\n"
    text += f"Machine: {machine_line}.\n"
    return text


def curves_table(found: dict[str, Any], opts: Options) -> str:
    def ms(v: float | None) -> str:
        return f"{v:.1f} ms" if v is not None else f"n/a (over {MAX_PLAN_STEPS} steps)"

    def ratio(r: float, o: float | None) -> str:
        return f"{o / r:.1f}x" if o is not None else "n/a"

    lines = [
        f"Scaling curves (one pass; latencies: p50 of {opts.curve_samples} runs; throughput: "
        f"{opts.curve_tasks} single-step tasks from one client, the arm's pool `prefork` "
        "with N processes on both sides):",
        "",
        "| curve | x | raw Celery | octollm | octollm / raw |",
        "|---|---|---|---|---|",
    ]
    for axis, label in (("width", "fan-out + fan-in, width"), ("depth", "chain, depth")):
        for x, (r, o) in found[axis].items():
            lines.append(f"| {label} | {x} | {r:.1f} ms | {ms(o)} | {ratio(r, o)} |")
    for x, (r, o) in found["processes"].items():
        lines.append(
            f"| throughput, worker processes | {x} | {r:.0f} tasks/s | {o:.0f} tasks/s "
            f"| {o / r:.2f}x raw throughput |"
        )
    return "\n".join(lines) + "\n"


def plot(found: dict[str, Any], path: Path) -> None:
    """The scaling curves as one PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, axis, xlabel in (
        (axes[0], "width", "DAG width (parallel steps + a join)"),
        (axes[1], "depth", "DAG depth (chain length)"),
    ):
        xs = list(found[axis])
        ax.plot(xs, [found[axis][x][0] for x in xs], "o-", label="raw Celery")
        ox = [x for x in xs if found[axis][x][1] is not None]
        ax.plot(ox, [found[axis][x][1] for x in ox], "s-", label="octollm")
        ax.set_xscale("log" if axis == "width" else "linear")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("end-to-end latency p50 (ms)")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    ps = list(found["processes"])
    axes[2].plot(ps, [found["processes"][p][0] for p in ps], "o-", label="raw Celery")
    axes[2].plot(ps, [found["processes"][p][1] for p in ps], "s-", label="octollm")
    axes[2].set_xlabel("worker processes (prefork) in the arm's pool")
    axes[2].set_ylabel("tasks/s (single-step, one client)")
    axes[2].set_xticks(ps)
    axes[2].legend()
    axes[2].grid(True, alpha=0.3)
    fig.suptitle("octollm vs raw Celery on this machine (benchmarks/run.py --curves)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs; best and median reported")
    parser.add_argument("--samples", type=int, default=50, help="timed latency runs per run")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per throughput run")
    parser.add_argument("--curves", action="store_true", help="add the scaling curves")
    parser.add_argument("--curve-samples", type=int, default=5)
    parser.add_argument("--curve-tasks", type=int, default=500)
    parser.add_argument(
        "--quick", action="store_true", help="1 run, 10 samples, 200 tasks (curves: 3, 200)"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="update the results section of this markdown file"
    )
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "docs" / "benchmarks-scaling.png",
        help="where --curves writes its PNG",
    )  # fmt: skip
    parser.add_argument("--logs", type=Path, default=Path("/tmp") / "octollm-bench")  # noqa: S108
    parser.add_argument(
        "--fair-compare",
        action="store_true",
        help="measure only the throughput, with fair dispatch off and on",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side (--fair-compare)")
    args = parser.parse_args(argv)
    opts = Options(
        runs=args.runs, samples=args.samples, tasks=args.tasks, curves=args.curves,
        curve_samples=args.curve_samples, curve_tasks=args.curve_tasks,
    )  # fmt: skip
    if args.quick:
        opts = Options(runs=1, samples=10, tasks=200, curves=args.curves, curve_samples=3,
                       curve_tasks=200)  # fmt: skip
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
    out = measure(opts, args.logs)
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    table = report(out, info, command.strip(), opts)
    if out["curves"]:
        plot(out["curves"], args.plot)
        shown = (
            os.path.relpath(args.plot, args.output.resolve().parent) if args.output else args.plot
        )
        table += f"\n![scaling curves]({shown})\n"
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
