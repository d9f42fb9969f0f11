"""Starting Flower for the fleet: private by default, authenticated by default.

``flower_argv(settings)`` is the command line (``celery -A octollm.worker.app flower``) bound to
``flower.address`` (127.0.0.1 unless changed); ``flower_env(settings)`` carries the basic-auth
credentials as ``FLOWER_BASIC_AUTH`` so the password never appears in ``ps``. Without a user and
a password both refuse, unless ``insecure=True`` (``octollm flower --insecure``).

Flower learns queues from the workers it sees (every pool's ``-Q``), which covers every octollm
queue; only RabbitMQ needs ``--broker_api`` (the management API) for queue lengths. Task
history is Flower's in-memory view (``max_tasks``); Postgres holds the real history.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from octollm.config.observability import FlowerSettings
from octollm.errors import InvalidInput
from octollm.orchestrator.broker import queues as routing


class FlowerCredentialsMissing(InvalidInput):
    code = "FLOWER_CREDENTIALS_MISSING"


def _config(settings: Any, insecure: bool) -> FlowerSettings:
    cfg: FlowerSettings = settings.flower
    if not insecure and not (cfg.user and cfg.password and cfg.password.get_secret_value()):
        raise FlowerCredentialsMissing(
            "Flower needs credentials: set OCTOLLM_FLOWER__USER and OCTOLLM_FLOWER__PASSWORD "
            "(or pass --insecure to run it without authentication)"
        )
    return cfg


def flower_argv(settings: Any, insecure: bool = False) -> list[str]:
    cfg = _config(settings, insecure)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "octollm.worker.app",
        "flower",
        f"--address={cfg.address}",
        f"--port={cfg.port}",
        f"--max_tasks={cfg.max_tasks}",
        "--persistent=False",
    ]
    if cfg.url_prefix:
        argv.append(f"--url_prefix={cfg.url_prefix.strip('/')}")
    return argv


def flower_env(settings: Any, insecure: bool = False) -> dict[str, str]:
    """Environment additions: credentials and, on RabbitMQ, the management API URL."""
    cfg = _config(settings, insecure)
    env: dict[str, str] = {}
    if cfg.user and cfg.password:
        env["FLOWER_BASIC_AUTH"] = f"{cfg.user}:{cfg.password.get_secret_value()}"
    if cfg.broker_api is not None and routing.is_amqp(settings.require_broker_url()):
        env["FLOWER_BROKER_API"] = cfg.broker_api.get_secret_value()
    return env


def start_flower(
    settings: Any, insecure: bool = False, *, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start Flower as a child process (checks credentials first)."""
    argv = flower_argv(settings, insecure)
    full_env = {**(env if env is not None else os.environ), **flower_env(settings, insecure)}
    return subprocess.Popen(argv, env=full_env, **popen)


def run_flower(settings: Any, insecure: bool = False) -> int:
    """Run Flower in the foreground until it exits (``octollm flower``); returns its exit code."""
    proc = start_flower(settings, insecure)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()
