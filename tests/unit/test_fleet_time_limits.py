"""A pool's ``time_limit`` reaches every pool kind: the worker command names its pool, the step
limit is the lower of the pool's and the setting's, and prefork's hard kill comes a grace later
(the worker side runs in tests/e2e/test_worker_pool.py)."""

from __future__ import annotations

from octollm.cli.fleetview import time_limit_text
from octollm.config import Settings
from octollm.orchestrator.broker.fleet import (
    HARD_LIMIT_GRACE_SECONDS,
    POOL_OPTION,
    POOL_TIME_LIMIT_CONF,
    POOL_TIME_LIMIT_OPTION,
    Pool,
    step_time_limit,
    worker_argv,
)

SETTINGS = Settings(broker={"url": "redis://127.0.0.1:6379/0"})  # type: ignore[arg-type]


def test_a_thread_pool_worker_is_started_for_its_pool_without_celery_time_limits() -> None:
    argv = worker_argv(Pool("coder", ("coder",), pool="threads", time_limit=30), SETTINGS)
    assert argv[argv.index(POOL_OPTION) + 1] == "coder"
    assert argv[argv.index(POOL_TIME_LIMIT_OPTION) + 1] == "30"
    assert "--time-limit" not in argv
    assert argv.index("--quiet") < argv.index("worker")  # the banner is a log line instead


def test_a_prefork_pool_is_hard_killed_a_grace_after_the_step_stops_itself() -> None:
    pool = Pool("executor", ("executor",), pool="prefork", time_limit=30)
    argv = worker_argv(pool, SETTINGS)
    assert argv[argv.index("--time-limit") + 1] == str(30 + HARD_LIMIT_GRACE_SECONDS)


def test_the_step_limit_is_the_lower_of_the_pool_and_the_setting() -> None:
    assert step_time_limit({POOL_TIME_LIMIT_CONF: 30}, 900.0) == 30.0
    assert step_time_limit({POOL_TIME_LIMIT_CONF: 1200}, 900.0) == 900.0
    assert step_time_limit({}, 900.0) == 900.0  # a worker started without --octollm-pool


def test_octollm_fleet_shows_the_limit_a_step_runs_under() -> None:
    assert time_limit_text(Pool("c", ("coder",), time_limit=30), 900.0) == (
        "time limit 30 s per step"
    )
    assert time_limit_text(Pool("c", ("coder",)), 900.0) == "time limit 900 s per step"
    assert time_limit_text(Pool("x", ("executor",), pool="prefork", time_limit=30), 20.0) == (
        f"time limit 20 s per step (hard kill at {30 + HARD_LIMIT_GRACE_SECONDS} s)"
    )
