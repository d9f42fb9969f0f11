"""W3C trace context through Celery: ``traceparent`` in every message's headers.

``before_task_publish`` adds the current ``traceparent`` to a message (the API request's, or the
running task's); ``task_prerun`` continues it with a new span id for the task, so every step of
a task shares the API request's trace id. The current span lives in :mod:`octollm.logging.trace`,
whose processor (one of the shared logging processors) adds ``trace_id``/``span_id`` to log
lines. OpenTelemetry spans are created only when ``tracing.otel`` is on and ``opentelemetry`` is
importable: no hard dependency.
"""

from __future__ import annotations

import secrets
from contextvars import Token
from typing import Any

from octollm.logging.trace import add_trace_context, current, enter, leave, parse

__all__ = [
    "HEADER",
    "add_trace_context",
    "child_of",
    "continue_trace",
    "current",
    "install",
    "parse",
    "reset",
]

HEADER = "traceparent"
_tokens: dict[str, tuple[Token[str | None], Any]] = {}
_installed = False
_otel = False


def child_of(traceparent: str | None) -> str:
    """A traceparent for a new span: same trace (or a new one), a fresh span id."""
    parent = parse(traceparent)
    trace_id = parent[0] if parent else secrets.token_hex(16)
    flags = parent[2] if parent else "01"
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def continue_trace(incoming: str | None) -> Token[str | None]:
    """Enter a new span under ``incoming`` (e.g. an API request's header); returns a reset token."""
    return enter(child_of(incoming))


def reset(token: Token[str | None]) -> None:
    leave(token)


def _on_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    tp = current()
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
        enter(f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}")
    if task_id:
        _tokens[task_id] = (token, span)


def _on_postrun(task_id: str | None = None, **_: Any) -> None:
    token, span = _tokens.pop(task_id or "", (None, None))
    if span is not None:
        span.end()
    if token is not None:
        leave(token)


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
