"""W3C trace context through Celery: ``traceparent`` in every message's headers.

``before_task_publish`` adds the current ``traceparent`` to a message (the API request's, or the
running task's); ``task_prerun`` continues it with a new span id for the task, so every step of
a task shares the API request's trace id. ``add_trace_context`` is a structlog processor adding
``trace_id``/``span_id`` to log lines. OpenTelemetry spans are created only when
``tracing.otel`` is on and ``opentelemetry`` is importable: no hard dependency.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any

HEADER = "traceparent"
_FORMAT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("octollm_traceparent", default=None)
_tokens: dict[str, tuple[Token[str | None], Any]] = {}
_installed = False
_otel = False


def parse(traceparent: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent_id, flags) of a valid header, else None."""
    if not traceparent:
        return None
    match = _FORMAT.match(traceparent.strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2), match.group(3)


def child_of(traceparent: str | None) -> str:
    """A traceparent for a new span: same trace (or a new one), a fresh span id."""
    parent = parse(traceparent)
    trace_id = parent[0] if parent else secrets.token_hex(16)
    flags = parent[2] if parent else "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def current() -> str | None:
    return _current.get()


def continue_trace(incoming: str | None) -> Token[str | None]:
    """Enter a new span under ``incoming`` (e.g. an API request's header); returns a reset token."""
    return _current.set(child_of(incoming))


def reset(token: Token[str | None]) -> None:
    _current.reset(token)


def add_trace_context(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the current span."""
    parsed = parse(_current.get())
    if parsed is not None:
        event_dict.setdefault("trace_id", parsed[0])
        event_dict.setdefault("span_id", parsed[1])
    return event_dict


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    tp = _current.get()
    if headers is not None and tp and not headers.get(HEADER):
        headers[HEADER] = tp


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    incoming = None
    if task is not None:
        incoming = getattr(task.request, HEADER, None) or (task.request.headers or {}).get(HEADER)
    token = continue_trace(incoming)
    span = _start_span(getattr(task, "name", "task"), incoming) if _otel else None
    if span is not None:
        sc = span.get_span_context()
        _current.set(f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}")
    if task_id:
        _tokens[task_id] = (token, span)


def _on_postrun(task_id: str | None = None, **_: Any) -> None:
    token, span = _tokens.pop(task_id or "", (None, None))
    if span is not None:
        span.end()
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # reset from another context (eventlet/gevent): just clear
            _current.set(None)


def _start_span(name: str, incoming: str | None) -> Any:
    try:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        return None
    ctx = TraceContextTextMapPropagator().extract({HEADER: incoming} if incoming else {})
    return trace.get_tracer("octollm").start_span(name, context=ctx)


def install(*, otel: bool = False) -> None:
    """Connect the Celery signal handlers (once per process; publishers and workers)."""
    global _installed, _otel
    _otel = otel
    if _installed:
        return
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_on_publish, weak=False)
    task_prerun.connect(_on_prerun, weak=False)
    task_postrun.connect(_on_postrun, weak=False)
    _installed = True
