"""Worker processes the benchmark owns: started in their own session, stopped (and killed if
they linger) however the benchmark ends, so no stray worker eats a later run's queues."""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_owned: list[subprocess.Popen[bytes]] = []


def start(
    argv: list[str],
    env: dict[str, str],
    log: Path,
    ready: Callable[[], bool],
    ready_timeout: float = 60.0,
    *,
    python: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``celery <argv>`` (``python <argv>`` with ``python``); wait until ``ready()``
    (e.g. the worker answers a ping)."""
    command = [sys.executable] if python else [sys.executable, "-m", "celery"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, *argv],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _owned.append(proc)
    deadline = time.monotonic() + ready_timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start; see {log}")
        time.sleep(0.2)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if proc in _owned:
        _owned.remove(proc)


def stop_all() -> None:
    for proc in list(_owned):
        stop(proc)


atexit.register(stop_all)
