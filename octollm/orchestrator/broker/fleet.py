"""Reads the fleet file (default: ``fleet.toml`` next to this module, shipped in the wheel)
and turns a pool into a ``celery worker`` command line."""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from octollm.config import Settings, get_settings
from octollm.errors import InvalidInput
from octollm.orchestrator.broker import queues as routing

DEFAULT_FLEET = Path(__file__).resolve().parent / "fleet.toml"  # shipped in the wheel


@dataclass(frozen=True)
class Pool:
    name: str
    arms: tuple[str, ...]
    pool: str = "threads"
    concurrency: int = 2
    prefetch: int = 1
    time_limit: int | None = None
    max_tasks_per_child: int | None = None


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
    ]
    if pool.time_limit and pool.pool == "prefork":
        argv += ["--time-limit", str(pool.time_limit)]
    if pool.max_tasks_per_child and pool.pool == "prefork":
        argv += ["--max-tasks-per-child", str(pool.max_tasks_per_child)]
    return argv
