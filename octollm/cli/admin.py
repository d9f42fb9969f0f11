"""What the admin commands (``octollm keys``, ``octollm webhooks``) share: the database, printing,
and turning an ``OctoError`` into a message and an exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from octollm.config import get_settings
from octollm.errors import ConfigurationError, NotFound, OctoError
from octollm.store.db import Database

EXIT_NOT_FOUND, EXIT_INVALID = 1, 2
err = Console(stderr=True)


@contextmanager
def database() -> Iterator[Database]:
    """The configured database (``OCTOLLM_DATABASE__URL``); exit 2 when unset or an
    ``OctoError`` escapes (1 for not found), with its message on stderr."""
    try:
        db = Database.from_settings(get_settings())
    except ConfigurationError as exc:
        err.print(exc.message, style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        yield db
    except OctoError as exc:
        err.print(exc.message, style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_NOT_FOUND if isinstance(exc, NotFound) else EXIT_INVALID) from None
    finally:
        db.dispose()


def plain(value: Any) -> Any:
    """A dataclass (or list of them) as JSON-ready data."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def print_json(value: Any) -> None:
    print(json.dumps(plain(value), indent=2))


def show(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table on stdout: the first column (an id) is never wrapped or cut, the other
    cells wrap."""
    found = Table()
    for index, column in enumerate(columns):
        if index == 0:
            widest = max((len(r[0]) for r in rows), default=len(column))
            found.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            found.add_column(column, overflow="fold")
    for row in rows:
        found.add_row(*row)
    Console().print(found)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
