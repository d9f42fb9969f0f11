"""Payload filters with one meaning everywhere: in Qdrant and over chunks held in memory.

A filter maps a payload path (dots for nesting: ``metadata.year``) to a condition:

    "python"                       equal (str, int, bool; a float compares as a range point)
    ["python", "rust"]             any of (str or int values)
    {"gte": 1789, "lt": 1800}      numeric range (gt, gte, lt, lte)

All conditions must hold. ``check_filters`` validates a caller's mapping; ``matches`` evaluates it
against a payload dict; ``octollm.memory.vectors`` translates it into a Qdrant ``Filter``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeAlias

from octollm.errors import InvalidInput

Scalar: TypeAlias = str | int | float | bool
Condition: TypeAlias = Scalar | list[str] | list[int] | dict[str, float]
Filters: TypeAlias = dict[str, Condition]

RANGE_OPS = frozenset({"gt", "gte", "lt", "lte"})
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,3}$")
MAX_ANY = 100


def check_filters(raw: Mapping[str, Any] | None) -> Filters:
    """Validate a filter mapping from outside; raise ``InvalidInput`` naming the bad key."""
    if not raw:
        return {}
    checked: Filters = {}
    for path, condition in raw.items():
        if not isinstance(path, str) or not _PATH.match(path):
            raise InvalidInput(f"bad filter key {path!r}", details={"key": str(path)})
        checked[path] = _check_condition(path, condition)
    return checked


def _check_condition(path: str, condition: Any) -> Condition:
    if isinstance(condition, str | bool | int | float):
        return condition
    if isinstance(condition, list):
        if not condition or len(condition) > MAX_ANY:
            raise InvalidInput(f"filter {path!r}: a list needs 1..{MAX_ANY} values")
        if all(isinstance(v, str) for v in condition):
            return [str(v) for v in condition]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in condition):
            return [int(v) for v in condition]
        raise InvalidInput(f"filter {path!r}: list values must be all strings or all integers")
    if isinstance(condition, dict):
        if not condition or not set(condition) <= RANGE_OPS:
            raise InvalidInput(f"filter {path!r}: a range uses only {sorted(RANGE_OPS)}")
        bounds: dict[str, float] = {}
        for op, bound in condition.items():
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise InvalidInput(f"filter {path!r}: range bound {op} must be a number")
            bounds[op] = float(bound)
        return bounds
    raise InvalidInput(f"filter {path!r}: unsupported condition type {type(condition).__name__}")


def lookup(payload: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None."""
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _in_range(value: Any, bounds: Mapping[str, float]) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (
        ("gt" not in bounds or value > bounds["gt"])
        and ("gte" not in bounds or value >= bounds["gte"])
        and ("lt" not in bounds or value < bounds["lt"])
        and ("lte" not in bounds or value <= bounds["lte"])
    )


def _holds(value: Any, condition: Condition) -> bool:
    values = value if isinstance(value, list) else [value]  # Qdrant matches any array element
    if isinstance(condition, dict):
        return any(_in_range(v, condition) for v in values)
    if isinstance(condition, list):
        return any(v in condition and not isinstance(v, bool) for v in values)
    if isinstance(condition, float):
        return any(_in_range(v, {"gte": condition, "lte": condition}) for v in values)
    return any(type(v) is type(condition) and v == condition for v in values)


def matches(payload: Mapping[str, Any], filters: Filters) -> bool:
    """True when every condition holds for ``payload``."""
    return all(_holds(lookup(payload, path), cond) for path, cond in filters.items())
