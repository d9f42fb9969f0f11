"""Every line a worker writes goes through structlog (JSON lines when not on a terminal).

- Logging is configured at ``celeryd_init``, before Celery checks its privileges, so the
  "running as root" ``SecurityWarning`` and every other ``warnings.warn`` become log lines
  (``logging.captureWarnings``); ``setup_logging`` (beat, and prefork children) leaves Celery's
  own handlers out (``worker_hijack_root_logger`` is off too).
- Celery's banner is switched off (``celery --quiet``, see ``orchestrator/broker/fleet.py``)
  and logged instead as one ``worker_started`` line with the same facts.
- ``print`` and tracebacks written to stdout/stderr after start are redirected to the
  ``octollm.stdout`` logger, one log line per written line (Celery's ``LoggingProxy``).
- What Celery writes from its signal handlers ("worker: Warm shutdown (MainProcess)") it
  writes with ``os.write``, past every logger (``celery.apps.worker.safe_say``): with JSON
  output on, that function is replaced by one writing the same message as a JSON line, also
  with a single ``os.write`` (safe in a signal handler).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import structlog
from celery.apps import worker as celery_worker_program
from celery.signals import celeryd_after_setup, celeryd_init, setup_logging

from octollm.config import get_settings
from octollm.logging import configure_logging
from octollm.orchestrator.broker.fleet import POOL_CONF, POOL_TIME_LIMIT_CONF

log = structlog.get_logger(__name__)


def _configure() -> bool:
    """Configure logging; True when the lines are JSON."""
    settings = get_settings()
    json_output = settings.log.json_output
    if json_output is None:  # as configure_logging decides it
        json_output = not sys.stderr.isatty()
    configure_logging(settings.log.level, json_output=json_output)
    return json_output


def say_as_json(msg: str, f: Any = None) -> None:
    """Celery's ``safe_say``, writing its message as one JSON log line."""
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    line = {"event": str(msg).strip(), "level": "warning", "logger": "celery.apps.worker"}
    fd = f.fileno() if f is not None and hasattr(f, "fileno") else 2
    # best effort, as Celery's own: never abort a shutdown over a log line
    with contextlib.suppress(OSError):
        os.write(fd, (json.dumps({**line, "timestamp": stamp}) + "\n").encode())


@celeryd_init.connect
def _before_worker_init(**_: Any) -> None:
    if _configure():
        celery_worker_program.safe_say = say_as_json


@setup_logging.connect
def _setup_logging(**_: Any) -> None:
    _configure()


def _pool_kind(pool_cls: Any) -> str:
    if isinstance(pool_cls, str):
        return pool_cls
    return str(getattr(pool_cls, "__module__", "") or pool_cls).rsplit(".", 1)[-1]


@celeryd_after_setup.connect
def _after_setup(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """Where Celery prints its banner: log it, then send stray stdout/stderr to the log."""
    if instance is not None:
        app = instance.app
        conf = app.conf
        log.info(
            "worker_started",
            hostname=str(sender),
            pool=conf.get(POOL_CONF),
            pool_kind=_pool_kind(getattr(instance, "pool_cls", "")),
            concurrency=getattr(instance, "concurrency", None),
            time_limit_seconds=conf.get(POOL_TIME_LIMIT_CONF),
            queues=list(app.amqp.queues.consume_from),  # most urgent first
            broker=app.connection_for_read().as_uri(),  # password masked
            tasks=sorted(name for name in app.tasks if name.startswith("octollm.")),
        )
        app.log.redirect_stdouts_to_logger(logging.getLogger("octollm.stdout"), logging.INFO)
