"""The current W3C trace context of this thread or task, and the log processor that shows it.

The ``traceparent`` lives in a contextvar set by whoever starts a span (the API request, a
Celery task: see :mod:`octollm.observability.tracing`); :func:`add_trace_context` is one of the
shared structlog processors, so every process's log lines carry ``trace_id``/``span_id`` while
a span is current, however logging was configured.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any

_FORMAT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("octollm_traceparent", default=None)


def parse(traceparent: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent_id, flags) of a valid header, else None."""
    if not traceparent:
        return None
    match = _FORMAT.match(traceparent.strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2), match.group(3)


def current() -> str | None:
    """The current ``traceparent``, or None outside a span."""
    return _current.get()


def enter(traceparent: str | None) -> Token[str | None]:
    """Make ``traceparent`` current; returns the token that :func:`leave` restores."""
    return _current.set(traceparent)


def leave(token: Token[str | None]) -> None:
    """Restore the trace context from before :func:`enter` (or clear it, from another
    context, e.g. a green thread)."""
    try:
        _current.reset(token)
    except ValueError:
        _current.set(None)


def add_trace_context(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span."""
    parsed = parse(_current.get())
    if parsed is not None:
        event_dict.setdefault("trace_id", parsed[0])
        event_dict.setdefault("span_id", parsed[1])
    return event_dict
