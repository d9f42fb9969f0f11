"""The pool a ``celery worker`` serves: ``--octollm-pool NAME --octollm-time-limit SECONDS``
(``octollm worker`` passes both, from the fleet file: ``orchestrator/broker/fleet.py``).

A bootstep puts them into the app's config (``octollm_pool``, ``octollm_pool_time_limit``)
before any pool child forks, so the step runner bounds every step of this worker by the pool's
limit on every pool kind (threads and solo have no Celery time limits).
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import bootsteps
from click import FloatRange, Option

from octollm.orchestrator.broker.app import app
from octollm.orchestrator.broker.fleet import (
    POOL_CONF,
    POOL_OPTION,
    POOL_TIME_LIMIT_CONF,
    POOL_TIME_LIMIT_OPTION,
)

log = structlog.get_logger(__name__)


class PoolTimeLimit(bootsteps.Step):  # type: ignore[misc]  # Celery is untyped
    """Puts the served pool's name and time limit into the app's config."""

    def __init__(
        self,
        parent: Any,
        octollm_pool: str | None = None,
        octollm_time_limit: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(parent, **options)
        if octollm_pool:
            parent.app.conf[POOL_CONF] = octollm_pool
        if octollm_time_limit:
            parent.app.conf[POOL_TIME_LIMIT_CONF] = octollm_time_limit
        if octollm_pool or octollm_time_limit:
            log.info("worker_pool", pool=octollm_pool, time_limit_seconds=octollm_time_limit)


app.user_options["worker"].add(
    Option((POOL_OPTION,), default=None, help="Fleet pool this worker serves (octollm worker).")
)
app.user_options["worker"].add(
    Option(
        (POOL_TIME_LIMIT_OPTION,),
        type=FloatRange(min=0, min_open=True),
        default=None,
        help="Seconds one step may run in this pool, on every pool kind (the step stops itself).",
    )
)
app.steps["worker"].add(PoolTimeLimit)
