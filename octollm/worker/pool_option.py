"""The pool a ``celery worker`` serves: ``--octollm-pool NAME`` (``octollm worker`` passes it).

A bootstep reads the pool from the fleet file and puts its ``time_limit`` into the app's
config (``octollm_pool_time_limit``) before any pool child forks, so the step runner bounds
every step of this worker by it on every pool kind (threads and solo have no Celery time
limits; see ``octollm/orchestrator/broker/fleet.py``).
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import bootsteps
from click import Option

from octollm.errors import InvalidInput
from octollm.orchestrator.broker.app import app
from octollm.orchestrator.broker.fleet import (
    POOL_CONF,
    POOL_OPTION,
    POOL_TIME_LIMIT_CONF,
    load_fleet,
)

log = structlog.get_logger(__name__)


class PoolTimeLimit(bootsteps.Step):  # type: ignore[misc]  # Celery is untyped
    """Puts the served pool's name and time limit into the app's config."""

    def __init__(self, parent: Any, octollm_pool: str | None = None, **options: Any) -> None:
        super().__init__(parent, **options)
        if not octollm_pool:
            return
        pools = load_fleet()
        if octollm_pool not in pools:
            raise InvalidInput(
                f"unknown pool {octollm_pool!r}; pools: {', '.join(pools)}",
                details={"pool": octollm_pool},
            )
        pool = pools[octollm_pool]
        parent.app.conf[POOL_CONF] = pool.name
        parent.app.conf[POOL_TIME_LIMIT_CONF] = pool.time_limit
        log.info(
            "worker_pool",
            pool=pool.name,
            kind=pool.pool,
            time_limit_seconds=pool.time_limit,
            hard_time_limit_seconds=pool.hard_time_limit,
        )


app.user_options["worker"].add(
    Option(
        (POOL_OPTION,),
        default=None,
        help="Fleet pool this worker serves: its time_limit bounds every step (any pool kind).",
    )
)
app.steps["worker"].add(PoolTimeLimit)
