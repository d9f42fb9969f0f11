"""A real octollm stack for tests: a migrated Postgres database, a Redis DB, Celery worker
subprocesses, and the orchestrator runtime pointed at them.

Each ``LiveStack`` gets its own database and Redis DB index and a unique queue prefix, so
tests never see each other's messages. Workers are real ``celery worker`` processes.

Tests that break a service on purpose must not break it for everyone else on the machine:
``private_redis=True`` runs the stack on its own ``redis-server`` (which the test may flush or
stop) and ``private_postgres=True`` on its own PostgreSQL cluster (which the test may stop and
start again with ``stop_postgres``/``start_postgres``), both from the embedded-service wheels.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from octollm.config import Settings
from tests.support import services, session
from tests.support.arms import PLUGINS

ROOT = Path(__file__).resolve().parents[2]


def fresh_database(name: str) -> str:
    """A migrated database ``name``: a copy of the session's template (tests/support/session.py)."""
    services.require_postgres()
    session.drop_database(name)
    return session.create_database(name)


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    #: Owned by the session's shared fleet (tests/support/fleet.py): outlives the test.
    shared: bool = False
    #: (arms, pool, concurrency) of a shared worker.
    config: tuple[list[str], str, int] | None = None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    #: Where this test's part of a shared worker's log starts (tests/support/fleet.py).
    log_offset: int = 0

    def log(self) -> str:
        """The worker's output (for a borrowed worker: since this test borrowed it)."""
        return self.full_log()[self.log_offset :]

    def full_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_ready(workers: list[Worker], timeout: float = 60.0) -> None:
    """Wait until every worker has logged ``ready.`` (they start in parallel)."""
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending:
        for worker in list(pending):
            if "ready." in worker.full_log():
                pending.remove(worker)
            elif worker.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {worker.name} did not start:\n{worker.log()[-3000:]}")
        if pending:
            time.sleep(0.05)


def stop_all(workers: list[Worker], grace: float = 0.0) -> None:
    """SIGTERM every worker at once, then SIGKILL whatever is still up after ``grace``."""
    running = [w for w in workers if w.proc.poll() is None]
    for worker in running:
        worker.kill(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for worker in running:
        try:
            worker.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.proc.wait(5)


@dataclass
class LiveStack:
    database_url: str
    redis_url: str
    prefix: str
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    #: redis-py URL when ``redis_url`` is a kombu-only form (``redis+socket://``).
    client_url: str | None = None
    #: The private PostgreSQL (an ``EmbeddedPostgres``) when the stack owns one.
    postgres: Any = None
    services: list[Any] = field(default_factory=list)
    #: The session's shared fleet (a ``SharedFleet``) this stack borrows workers from.
    fleet: Any = None

    def stop_postgres(self) -> None:
        """Fast shutdown of the private PostgreSQL (clients are disconnected)."""
        assert self.postgres is not None, "start the stack with private_postgres=True"
        self.postgres.stop(10)

    def start_postgres(self) -> None:
        from octollm.embedded.postgres import launch_postgres

        assert self.postgres is not None, "start the stack with private_postgres=True"
        self.postgres = launch_postgres(self.tmp / "pg", log_dir=self.tmp / "logs")
        self.postgres.wait_ready(60)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")}
        env.update(
            {
                "OCTOLLM_DATABASE__URL": self.database_url,
                "OCTOLLM_BROKER__URL": self.redis_url,
                "OCTOLLM_QUEUE_PREFIX": self.prefix,
                "OCTOLLM_ARM_PLUGINS": PLUGINS,
                "OCTOLLM_LOG__JSON_OUTPUT": "true",
                "OCTOLLM_ORCHESTRATOR__LEASE_SECONDS": "3",
                "OCTOLLM_ORCHESTRATOR__HEARTBEAT_SECONDS": "1",
                "OCTOLLM_ORCHESTRATOR__STALL_SECONDS": "4",
                "OCTOLLM_ORCHESTRATOR__RETRY_BACKOFF_BASE_SECONDS": "0.2",
                "OCTOLLM_ORCHESTRATOR__RETRY_BACKOFF_MAX_SECONDS": "1",
                "OCTOLLM_DATA_DIR": str(self.tmp / "data"),
                "PYTHONPATH": str(ROOT),
                # a borrowed worker outlives the test: its log must not wait for its exit
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.client_url:
            env["OCTOLLM_BROKER__REDIS_URL"] = self.client_url
            env["OCTOLLM_BROKER__RESULT_BACKEND"] = self.redis_url
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        from octollm.config.settings import (
            BrokerSettings,
            DatabaseSettings,
            OrchestratorSettings,
        )

        env = self.env()
        return Settings(
            data_dir=self.tmp / "data",
            queue_prefix=self.prefix,
            database=DatabaseSettings(url=self.database_url),  # type: ignore[arg-type]
            broker=BrokerSettings(
                url=self.redis_url,  # type: ignore[arg-type]
                redis_url=self.client_url,  # type: ignore[arg-type]
                result_backend=self.redis_url if self.client_url else None,  # type: ignore[arg-type]
            ),
            orchestrator=OrchestratorSettings(
                lease_seconds=float(env["OCTOLLM_ORCHESTRATOR__LEASE_SECONDS"]),
                heartbeat_seconds=float(env["OCTOLLM_ORCHESTRATOR__HEARTBEAT_SECONDS"]),
                stall_seconds=float(env["OCTOLLM_ORCHESTRATOR__STALL_SECONDS"]),
                retry_backoff_base_seconds=0.2,
                retry_backoff_max_seconds=1,
            ),
        )

    def queues(self, arms: list[str]) -> list[str]:
        from octollm.orchestrator.broker import queues as routing

        return routing.queue_names_for(self.prefix, arms, self.redis_url)

    def start_worker(
        self,
        arms: list[str],
        *,
        pool: str = "threads",
        concurrency: int = 2,
        name: str | None = None,
        extra_args: list[str] | None = None,
        wait: bool = True,
    ) -> Worker:
        borrow = self.fleet is not None and self.fleet.stack is not self
        if borrow and extra_args is None and not self.extra_env:
            # the n-th worker this test asks for with this configuration (two echo workers
            # of concurrency 1 are two processes, as with a stack of its own)
            same = sum(
                1 for w in self.workers if w.shared and w.config == (arms, pool, concurrency)
            )
            worker: Worker = self.fleet.worker(arms, pool, concurrency, wait, same)
            self.workers.append(worker)
            return worker
        name = name or f"{'-'.join(arms)}-{len(self.workers)}"
        log_path = self.tmp / f"worker-{name}.log"
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "octollm.worker.app",
            "worker",
            "-Q",
            ",".join(self.queues(arms)),
            "-P",
            pool,
            "-c",
            str(concurrency),
            "--prefetch-multiplier",
            "1",
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
            *(extra_args or []),
        ]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, proc, log_path)
        self.workers.append(worker)
        if wait:
            wait_ready([worker])
        return worker

    def start_fleet(self, arms: list[str] | None = None, **kwargs: Any) -> list[Worker]:
        """One worker per arm, all spawned at once, then waited for together."""
        arms = arms or ["orchestrator", "echo", "noop", "sleep", "flaky", "fail"]
        wait = kwargs.pop("wait", True)
        workers = [self.start_worker([arm], wait=False, **kwargs) for arm in arms]
        if wait:
            wait_ready(workers)
        return workers

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.client_url or self.redis_url)

    def stop(self) -> None:
        stop_all([w for w in self.workers if not w.shared])
        self.workers.clear()
        if self.postgres is not None:
            self.postgres.stop(10)
        for service in self.services:
            service.stop(10)


@contextmanager
def live_stack(
    tmp: Path,
    *,
    redis_db: int | None = None,
    private_redis: bool = False,
    private_postgres: bool = False,
    **extra_env: str,
) -> Iterator[LiveStack]:
    """A fresh database and a flushed Redis DB for one test (or private servers, see above)."""
    prefix = f"t{uuid.uuid4().hex[:6]}"
    name = session.database_name()
    owned: list[Any] = []
    try:
        if private_postgres:
            from octollm.embedded.postgres import launch_postgres
            from octollm.store.migrate import upgrade

            pg = launch_postgres(tmp / "pg", log_dir=tmp / "logs")
            owned.append(pg)
            pg.wait_ready(60)
            url = pg.url
            upgrade(url)
        else:
            url = fresh_database(name)
        if private_redis:
            from octollm.embedded.redis import launch_redis

            server = launch_redis(tmp / "redis", log_dir=tmp / "logs")
            owned.append(server)
            server.wait_ready(10)
            redis_url, client_url = server.broker_url, server.redis_url
        else:
            services.require_redis()
            base = services.REDIS_URL.rsplit("/", 1)[0]
            # The session's private redis-server (tests/support/session.py), so DB numbers are
            # ours alone; TEST_REDIS_DB only matters when the machine's Redis is used instead.
            pinned = os.environ.get("TEST_REDIS_DB")
            db = redis_db if redis_db is not None else int(pinned or 8)
            redis_url, client_url = f"{base}/{db}", None
    except BaseException:
        for service in owned:
            service.stop(10)
        raise
    client = redis.Redis.from_url(client_url or redis_url)
    client.flushdb()
    stack = LiveStack(url, redis_url, prefix, tmp, extra_env=dict(extra_env), client_url=client_url)
    if private_postgres:
        stack.postgres = owned[0]
    stack.services = [s for s in owned if s is not stack.postgres]
    try:
        yield stack
    finally:
        stack.stop()
        if not private_redis:
            client.flushdb()
        client.close()
        if not private_postgres:
            session.drop_database(name)


def make_app(settings: Settings) -> Any:
    """A Celery app for the test process, configured like the workers' (no eager mode)."""
    from celery import Celery

    from octollm.orchestrator.broker.config import build
    from octollm.orchestrator.broker.result_backend import backend_url

    app = Celery(f"octollm-test-{uuid.uuid4().hex[:6]}")
    app.conf.update(build(settings))
    # a publisher that never waits on results (as the API): no pending-result bookkeeping
    app.conf.result_backend = backend_url(app.conf.result_backend)
    return app


def make_runtime(stack: LiveStack) -> Any:
    from octollm.events import RedisEventBus
    from octollm.orchestrator.runtime import Runtime
    from octollm.store.db import Database

    settings = stack.settings()
    return Runtime(
        settings=settings,
        db=Database(stack.database_url),
        app=make_app(settings),
        events=RedisEventBus.from_url(stack.client_url or stack.redis_url),
    )


def wait_for_task(
    rt: Any,
    task_id: str,
    timeout: float = 30.0,
    statuses: tuple[str, ...] = ("completed", "failed", "cancelled"),
) -> Any:
    from octollm.store import tasks as task_repo

    deadline = time.monotonic() + timeout
    while True:
        with rt.db.session() as session:
            row = task_repo.get(session, task_id)
            if row is not None and row.status in statuses:
                return row
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"task {task_id} still {row.status if row else 'missing'} after {timeout} s"
            )
        time.sleep(0.1)


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached after {timeout} s")
        time.sleep(0.05)


def steps_of(rt: Any, task_id: str) -> dict[str, Any]:
    """The task's step rows by step id."""
    from octollm.store import steps as step_repo

    with rt.db.session() as session:
        return {r.step_id: r for r in step_repo.for_task(session, task_id)}


def step_status(rt: Any, task_id: str, step_id: str) -> str | None:
    row = steps_of(rt, task_id).get(step_id)
    return row.status if row is not None else None


@contextmanager
def reconciling(rt: Any, interval: float = 0.5) -> Iterator[list[Any]]:
    """Run reconciler passes in a background thread, as celery beat would in production
    (``octollm.reconcile`` calls the same function); yields the reports of passes that did
    something. Errors in a pass are collected too, so a test can see them."""
    from octollm.orchestrator.recovery import reconciler

    reports: list[Any] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                report = reconciler.reconcile(rt)
                if report.any():
                    reports.append(report)
            except Exception as exc:
                reports.append(exc)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="test-reconciler", daemon=True)
    thread.start()
    try:
        yield reports
    finally:
        stop.set()
        thread.join(10)
