"""Real services for tests: skip when absent on a laptop, fail when ``CI=true``.

Each test session may point at its own Postgres database and Redis DB index with
``OCTOLLM_TEST_DATABASE_URL`` and ``OCTOLLM_TEST_REDIS_URL`` (defaults: the machine's
services, database ``octollm_test``, Redis DB 3).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

PG_ADMIN_URL = os.environ.get(
    "OCTOLLM_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_DATABASE = os.environ.get("OCTOLLM_TEST_DATABASE", "octollm_test")
REDIS_URL = os.environ.get("OCTOLLM_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> None:
    """Skip (laptop) or fail (CI) when the service behind ``url`` does not answer."""
    if _reachable(url, default_port):
        return
    message = (
        f"{name} is not reachable at {urlparse(url).hostname}:{urlparse(url).port or default_port}"
    )
    if in_ci():
        pytest.fail(f"{message} (CI=true: integration tests must not skip)")
    pytest.skip(message)


def require_postgres() -> None:
    require("PostgreSQL", PG_ADMIN_URL, 5432)


def require_redis() -> None:
    require("Redis", REDIS_URL, 6379)


def require_rabbitmq(url: str = "amqp://guest:guest@127.0.0.1:5672//") -> None:
    require("RabbitMQ", url, 5672)


def database_url(database: str = TEST_DATABASE) -> str:
    """SQLAlchemy URL of a test database on the machine's Postgres (created if missing)."""
    import psycopg

    require_postgres()
    admin = PG_ADMIN_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    parsed = urlparse(admin)
    user, host, port = parsed.username or "postgres", parsed.hostname, parsed.port or 5432
    return f"postgresql+psycopg://{user}@{host}:{port}/{database}"
