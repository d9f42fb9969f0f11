"""Any exception a command lets out -> one line with a hint and a documented exit code.

Operators see ``error: <what> — <what to do>``; the traceback only with ``octollm --debug``.
Exit codes: 2 invalid input or configuration, 1 everything else (not found, failed, unreachable).
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from octollm.contracts.problems import one_line
from octollm.errors import OctoError

INVALID = 2
FAILED = 1


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (SQLAlchemy's ``orig``) and what caused it, once each."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        orig = getattr(e, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, e.__cause__, e.__context__]


def _named(exc: BaseException, *names: str) -> BaseException | None:
    for e in _chain(exc):
        if any(cls.__name__ in names for cls in type(e).__mro__):
            return e
    return None


def describe(exc: BaseException) -> tuple[str, int]:
    """The line to print (without the ``error:`` prefix) and the exit code."""
    if isinstance(exc, ValidationError):
        return f"invalid input: {one_line(exc)}", INVALID
    if _named(exc, "UndefinedTable", "UndefinedColumn") is not None:
        return "the database is not migrated — run `octollm migrate`", FAILED
    if _named(exc, "OperationalError", "ConnectionError", "ConnectionRefusedError") is not None:
        return (
            "cannot reach a service (database or broker) — is it running, and are "
            "OCTOLLM_DATABASE__URL / OCTOLLM_BROKER__URL right? (`octollm --debug …` shows which)",
            FAILED,
        )
    if isinstance(exc, OctoError):
        code = INVALID if 400 <= exc.http_status < 500 and exc.http_status != 404 else FAILED
        return exc.message, code
    if isinstance(exc, RuntimeError) and ("is not set" in str(exc) or "must be set" in str(exc)):
        return str(exc), INVALID
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}", INVALID
    return f"{type(exc).__name__}: {exc}", FAILED
