"""A pydantic ``ValidationError`` as one line a person can act on (CLI, API and logs alike)."""

from __future__ import annotations

from pydantic import ValidationError


def one_line(exc: ValidationError) -> str:
    """``field.path: problem; other.field: problem`` without pydantic's type tags and doc URLs."""
    parts = []
    for problem in exc.errors():
        where = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)
