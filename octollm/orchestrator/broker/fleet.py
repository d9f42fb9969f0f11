"""Reads the fleet file (default: ``fleet.toml`` next to this module, shipped in the wheel)
and turns a pool into a ``celery worker`` command line.

A pool's ``time_limit`` holds on every pool kind: the worker command names its pool and limit
(``--octollm-pool``, ``--octollm-time-limit``), the worker puts them into its Celery config
(``octollm_pool_time_limit``, see ``octollm/worker/pool_option.py``) and the step runner stops
waiting for an arm at the lower of it and ``orchestrator.step_time_limit_seconds``
(:func:`step_time_limit`), then records the step as timed out. Prefork pools also get Celery's
hard ``--time-limit``, :data:`HARD_LIMIT_GRACE_SECONDS` later, as a backstop that kills the
child should the step not return."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octollm.config import Settings, get_settings
from octollm.errors import InvalidInput
from octollm.orchestrator.broker import queues as routing

DEFAULT_FLEET = Path(__file__).resolve().parent / "fleet.toml"  # shipped in the wheel
#: The worker option naming the pool a ``celery worker`` serves (registered by octollm.worker).
POOL_OPTION = "--octollm-pool"
POOL_TIME_LIMIT_OPTION = "--octollm-time-limit"
#: Celery config keys the worker sets from its pool (read by the step runner).
POOL_CONF = "octollm_pool"
POOL_TIME_LIMIT_CONF = "octollm_pool_time_limit"
#: Prefork's hard kill comes this long after the step's own limit, so the step records its
#: timeout first and the kill only catches a step that did not return.
HARD_LIMIT_GRACE_SECONDS = 15


@dataclass(frozen=True)
class Pool:
    name: str
    arms: tuple[str, ...]
    pool: str = "threads"
    concurrency: int = 2
    prefetch: int = 1
    time_limit: int | None = None
    max_tasks_per_child: int | None = None

    @property
    def hard_time_limit(self) -> int | None:
        """Celery's ``--time-limit`` (prefork only): the pool's limit plus a grace."""
        if self.time_limit and self.pool == "prefork":
            return int(self.time_limit) + HARD_LIMIT_GRACE_SECONDS
        return None


def step_time_limit(conf: Mapping[str, Any], configured: float) -> float:
    """A step's time limit in this worker: ``configured``
    (``orchestrator.step_time_limit_seconds``), lowered to the pool's ``time_limit`` when the
    worker was started for a pool."""
    # ``get``: Celery loads a lazily configured app's settings on item access only.
    pool_limit = conf.get(POOL_TIME_LIMIT_CONF)
    return min(configured, float(pool_limit)) if pool_limit else configured


def fleet_path(settings: Settings | None = None) -> Path:
    """``Settings.fleet_file`` (``OCTOLLM_FLEET_FILE``), else the source tree's fleet."""
    return (settings or get_settings()).fleet_file or DEFAULT_FLEET


def load_fleet(path: Path | None = None) -> dict[str, Pool]:
    path = path or fleet_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidInput(
            f"fleet file {path} does not exist (set OCTOLLM_FLEET_FILE)",
            details={"setting": "fleet_file", "env": "OCTOLLM_FLEET_FILE", "path": str(path)},
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"fleet file {path} is not valid TOML: {exc}",
            details={"setting": "fleet_file", "path": str(path)},
        ) from exc
    pools: dict[str, Pool] = {}
    for name, spec in data.get("pools", {}).items():
        if spec.get("pool", "threads") not in ("threads", "prefork", "solo", "gevent"):
            raise InvalidInput(
                f"pool {name!r}: pool kind must be threads, prefork, solo or gevent",
                details={"path": str(path), "pool": name, "field": "pool"},
            )
        pools[name] = Pool(
            name=name,
            arms=tuple(spec["arms"]),
            pool=spec.get("pool", "threads"),
            concurrency=int(spec.get("concurrency", 2)),
            prefetch=int(spec.get("prefetch", 1)),
            time_limit=spec.get("time_limit"),
            max_tasks_per_child=spec.get("max_tasks_per_child"),
        )
    return pools


def worker_argv(
    pool: Pool, settings: Settings, *, loglevel: str = "INFO", hostname: str | None = None
) -> list[str]:
    """The ``celery worker`` command for ``pool``: its queues most urgent first."""
    queues = routing.queue_names_for(
        settings.queue_prefix, list(pool.arms), settings.require_broker_url()
    )
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "octollm.worker.app",
        "--quiet",  # no banner: the worker logs it as one JSON line (octollm/worker/banner.py)
        "worker",
        "-Q",
        ",".join(queues),
        "-P",
        pool.pool,
        "-c",
        str(pool.concurrency),
        "--prefetch-multiplier",
        str(pool.prefetch),
        "-n",
        hostname or f"{pool.name}@%h",
        *(["-E"] if settings.flower.task_events else []),
        "--without-gossip",
        "--without-mingle",
        "-l",
        loglevel,
        POOL_OPTION,
        pool.name,
    ]
    if pool.time_limit:
        argv += [POOL_TIME_LIMIT_OPTION, str(pool.time_limit)]
    if pool.hard_time_limit:
        argv += ["--time-limit", str(pool.hard_time_limit)]
    if pool.max_tasks_per_child and pool.pool == "prefork":
        argv += ["--max-tasks-per-child", str(pool.max_tasks_per_child)]
    return argv
