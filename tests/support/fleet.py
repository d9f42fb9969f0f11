"""One worker fleet per pytest session, lent to every test that uses the default stack.

Starting ``celery worker`` processes is most of an integration test's cost, so the tests that
run on the default configuration (the ``stack``/``runtime`` fixtures) share one database, one
Redis DB, one queue prefix and one set of worker processes, kept for the whole session:

- ``stack.start_worker(arms, pool=..., concurrency=...)`` returns the session's worker for
  that (arms, pool, concurrency), starting it the first time; later tests borrow it.
- Between tests the fleet is put back as new: every worker stops consuming (Celery's
  ``cancel_consumer`` remote control) and consumes again only when a test asks for its arms
  (``add_consumer``), so "no worker serves this arm" still holds in a test that starts none;
  the queues and Redis keys are emptied and every table is truncated.
- A worker a test killed, or one still busy with the previous test's work, is replaced.

Tests that need their own environment, their own servers or that stop workers use
``live_stack`` directly (or the ``own_stack`` marker with the ``stack`` fixture).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.support import session
from tests.support.stack import LiveStack, Worker, stop_all, wait_ready

#: The shared fleet's Redis DB on the session's redis-server (``live_stack`` defaults to 8).
FLEET_REDIS_DB = 9

Key = tuple[tuple[str, ...], str, int, int]


class SharedFleet:
    def __init__(self, tmp: Path) -> None:
        from tests.support import services

        self.db_name = session.database_name("fleet")
        url = session.create_database(self.db_name)
        base = services.REDIS_URL.rsplit("/", 1)[0]
        self.stack = LiveStack(url, f"{base}/{FLEET_REDIS_DB}", f"s{uuid.uuid4().hex[:6]}", tmp)
        self.stack.fleet = self
        self.workers: dict[Key, Worker] = {}
        self.consuming: set[Key] = set()
        self._app: Any = None
        self._host = socket.gethostname()
        client = self.redis()
        client.flushdb()
        client.close()

    # -- workers -------------------------------------------------------------------------

    def app(self) -> Any:
        if self._app is None:
            from tests.support.stack import make_app

            self._app = make_app(self.stack.settings())
        return self._app

    def worker(
        self, arms: list[str], pool: str, concurrency: int, wait: bool, index: int = 0
    ) -> Worker:
        """The session's ``index``-th worker for this configuration, consuming its queues."""
        key: Key = (tuple(arms), pool, concurrency, index)
        worker = self.workers.get(key)
        if worker is not None and worker.proc.poll() is not None:
            worker = None  # a test killed it: start another
        if worker is None:
            name = f"{'-'.join(arms)}-shared{len(self.stack.workers)}"
            worker = LiveStack.start_worker(
                self.stack, arms, pool=pool, concurrency=concurrency, name=name, wait=False
            )
            worker.shared = True
            worker.config = (list(arms), pool, concurrency)
            self.workers[key] = worker
            self.consuming.add(key)
            if wait:
                wait_ready([worker])
        elif key not in self.consuming:
            for queue in self.stack.queues(list(arms)):
                self._control("add_consumer", worker, queue=queue)
            self.announce(worker, arms)
            self.consuming.add(key)
            worker.log_offset = len(worker.full_log())  # this test's part of the log
        return worker

    def announce(self, worker: Worker, arms: list[str]) -> None:
        """What the worker did when it started (octollm.worker.registration), done again for
        a borrowed one after the reset wiped it: its registration row and first heartbeat."""
        from octollm.arms.registry import known_arms
        from octollm.orchestrator.broker.queues import CONTROL_ARM
        from octollm.orchestrator.registry import directory as arm_directory
        from octollm.orchestrator.registry.catalog import capability_of
        from octollm.store.db import Database

        served = [a for a in arms if a in known_arms() and a != CONTROL_ARM]
        caps = [capability_of(arm) for arm in served]
        db = Database(self.stack.database_url)
        try:
            arm_directory.register(db, caps, worker.name)
        finally:
            db.dispose()
        directory = arm_directory.directory_for(self.stack.settings())
        if directory is not None:
            directory.heartbeat(f"{worker.name}@{self._host}", caps)

    def _control(self, command: str, worker: Worker, **arguments: Any) -> None:
        replies = self.app().control.broadcast(
            command,
            arguments=arguments,
            destination=[f"{worker.name}@{self._host}"],
            reply=True,
            timeout=5.0,
        )
        if not replies:
            raise RuntimeError(f"worker {worker.name} did not answer {command}")

    # -- between tests -------------------------------------------------------------------

    def lend(self) -> Iterator[LiveStack]:
        """A stack for one test on the shared database, Redis DB, prefix and workers."""
        shared = self.stack
        stack = LiveStack(shared.database_url, shared.redis_url, shared.prefix, shared.tmp)
        stack.fleet = self
        try:
            yield stack
        finally:
            stack.stop()  # the test's own workers (special arguments) only
            self.reset()

    def reset(self) -> None:
        """Back to an empty fleet state: nothing consumed, no messages, no rows, no keys."""
        for key in list(self.consuming):
            worker = self.workers[key]
            try:
                if worker.proc.poll() is not None or self._busy(worker):
                    raise RuntimeError("dead or busy")
                for queue in self.stack.queues(list(key[0])):
                    self._control("cancel_consumer", worker, queue=queue)
            except Exception:
                # still working on the last test's steps (or unreachable): replace it
                stop_all([worker])
                del self.workers[key]
                self.stack.workers.remove(worker)
        self.consuming.clear()
        client = self.redis()
        try:
            # queues, unacked messages, events, breakers, buckets; keep kombu's bindings
            doomed = [k for k in client.scan_iter(count=1000) if not k.startswith(b"_kombu.")]
            if doomed:
                client.delete(*doomed)
        finally:
            client.close()
        self.truncate()

    def _busy(self, worker: Worker) -> bool:
        replies = (
            self.app()
            .control.inspect(destination=[f"{worker.name}@{self._host}"], timeout=5.0)
            .active()
        )
        if not replies:
            return True
        return any(bool(tasks) for tasks in replies.values())

    def truncate(self) -> None:
        url = self.stack.database_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                )
            ]
            if tables:
                names = ", ".join(f'"{t}"' for t in tables)
                conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")

    def redis(self) -> redis.Redis:
        return self.stack.redis()

    def close(self) -> None:
        stop_all(self.stack.workers)
        self.stack.workers.clear()
        if self._app is not None:
            self._app.close()
        session.drop_database(self.db_name)
