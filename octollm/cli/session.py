"""The runtime an operator command works against: the configured services, or — for read-only
commands with no database URL set — the embedded PostgreSQL an earlier ``octollm run`` left in
the data directory, started for the command and stopped after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import SecretStr

from octollm.config import Settings, get_settings
from octollm.errors import InvalidInput
from octollm.orchestrator.runtime import Runtime


class NoDatabase(InvalidInput):
    code = "NO_DATABASE"


def _embedded_pgdata(settings: Settings) -> bool:
    return (settings.data_dir / "postgres" / "PG_VERSION").exists()


@contextmanager
def operator_runtime(*, read_only: bool) -> Iterator[Runtime]:
    """A ``Runtime`` for one command; its connections are closed after it."""
    from octollm.orchestrator.broker.app import app

    settings = get_settings()
    postgres = None
    if settings.database.url is None:
        if not (read_only and _embedded_pgdata(settings)):
            raise NoDatabase(
                "OCTOLLM_DATABASE__URL is not set — run inside `octollm run` or set it"
                + ("" if read_only else " (changing a task needs the live services)")
            )
        from octollm.embedded.postgres import launch_postgres

        postgres = launch_postgres(settings.data_dir, log_dir=settings.data_dir / "logs")
        postgres.wait_ready(60)
        database = settings.database.model_copy(update={"url": SecretStr(postgres.url)})
        settings = settings.model_copy(update={"database": database})
    rt = Runtime.build(app, settings)
    try:
        yield rt
    finally:
        rt.db.dispose()
        if postgres is not None:
            postgres.stop(30)
