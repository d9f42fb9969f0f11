"""One logging setup for every octollm process (CLI, API, workers, beat).

JSON lines when not writing to a terminal, a console renderer on a terminal. Context
(``task_id``, ``step_id``, ``arm``, ``tenant``, ``request_id``) lives in contextvars and is
cleared and re-bound at the start of each unit of work, because prefork and thread pools reuse
their workers. The current trace (``trace_id``, ``span_id``; see :mod:`octollm.logging.trace`)
is added to every line by a shared processor.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any

import structlog

from octollm.logging.trace import add_trace_context

_configured = False

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_trace_context,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure_logging(
    level: str = "INFO", *, json_output: bool | None = None, force: bool = False
) -> None:
    """Configure structlog and the stdlib root logger once per process."""
    global _configured
    if _configured and not force:
        return
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[Any] = [*_SHARED]
    if json_output:
        processors.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn (e.g. Celery's root warning) as log lines
    for noisy in ("sqlalchemy.engine", "httpx", "httpcore", "kombu", "amqp", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    _configured = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


def bind_unit_of_work(**fields: Any) -> None:
    """Clear the context left by the previous unit of work, then bind this one's fields."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{k: v for k, v in fields.items() if v is not None})
