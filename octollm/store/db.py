"""One SQLAlchemy engine per process, sessions opened only at the edges.

Prefork workers must not share a parent's connections: ``Database.after_fork()`` (wired to
Celery's ``worker_process_init``) drops the inherited pool. Driver errors that mean "the
database is unreachable" surface as ``StorageUnavailable`` (retryable), so the API answers 503
and steps retry instead of failing.

Two ways in: ``session()`` is an ORM transaction (BEGIN ... COMMIT); ``autocommit()`` is a
pooled connection for one self-contained statement (a claim, a recorded output), which saves
the BEGIN and COMMIT round trips on the hot path. Connections are not pinged on checkout (that
was a round trip per transaction): a connection found dead raises ``StorageUnavailable``,
SQLAlchemy discards the whole pool, and the caller's retry gets fresh connections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy import event as sa_event
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.orm import Session, sessionmaker

from octollm.config import Settings, get_settings
from octollm.errors import StorageUnavailable


class Database:
    def __init__(self, url: str, *, pool_size: int = 5, connect_timeout: float = 5.0) -> None:
        self.url = url
        self.engine: Engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_recycle=1800,
            connect_args={"connect_timeout": max(1, int(connect_timeout))},
        )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.require_database_url(),
            pool_size=settings.database.pool_size,
            connect_timeout=settings.database.connect_timeout_seconds,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with _storage_errors(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement commits on its own (one round trip each)."""
        with _storage_errors(), self._autocommit.connect() as conn:
            yield conn

    def ping(self) -> None:
        """One round trip (readiness): raises when the database cannot answer."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def after_fork(self) -> None:
        self.engine.dispose(close=False)

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except (OperationalError, SAInterfaceError) as exc:
        raise StorageUnavailable(f"database unavailable: {exc.orig!s}"[:500]) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailable("database connection lost") from exc
        raise


def after_commit(
    session: Session, key: str, item: object, deliver: Callable[[object], None]
) -> None:
    """Hold ``item`` until ``session`` commits, then hand it to ``deliver`` (items held under
    one ``key`` go out in order); a rollback drops them: nobody hears of undone work."""
    pending: list[object] = session.info.setdefault(key, [])
    if not pending:

        def flush(done: Session) -> None:
            for held in done.info.pop(key, []):
                deliver(held)

        def drop(undone: Session) -> None:
            undone.info.pop(key, None)

        sa_event.listen(session, "after_commit", flush, once=True)
        sa_event.listen(session, "after_rollback", drop, once=True)
    pending.append(item)


@lru_cache(maxsize=4)
def _database(url: str, pool_size: int, timeout: float) -> Database:
    return Database(url, pool_size=pool_size, connect_timeout=timeout)


def get_database(settings: Settings | None = None) -> Database:
    """The process's database for these settings (cached per URL)."""
    settings = settings or get_settings()
    return _database(
        settings.require_database_url(),
        settings.database.pool_size,
        settings.database.connect_timeout_seconds,
    )


#: The transaction and connection types callers annotate with, and the driver's "value the
#: database cannot store" error the API maps to 422: so that nothing outside ``store``
#: imports SQLAlchemy.
__all__ = [
    "Connection",
    "DataError",
    "Database",
    "Session",
    "after_commit",
    "get_database",
]


def tcp_host(url: str) -> str | None:
    """The host a database URL reaches over TCP, or None for a unix socket (a local-only
    database: the embedded default)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "")
    return host if host and not host.startswith("/") else None


def ensure_database(host: str, port: int, user: str, name: str) -> bool:
    """Create database ``name`` if it is missing; False while the server is not accepting
    connections yet (a starting embedded PostgreSQL: call again)."""
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname="postgres", autocommit=True, connect_timeout=5
        ) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:  # still starting up
        return False
    return True
