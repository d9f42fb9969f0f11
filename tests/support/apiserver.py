"""The API under test: in-process (Starlette's TestClient, lifespan included) or as real
uvicorn processes, against a ``LiveStack``'s Postgres and Redis.

The API tests borrow the session's shared fleet like every default stack (tests/conftest.py):
its Redis is this session's private server, so no concurrent run can wipe their streams.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from octollm.api.app import create_app
from octollm.api.config import ApiSettings
from octollm.security import apikeys
from octollm.store.db import Database
from tests.support.stack import ROOT, LiveStack

ALL_SCOPES = sorted(apikeys.ALL_SCOPES - {"admin"})

#: Generous limits so that only the rate-limit tests meet them.
GENEROUS: dict[str, Any] = {
    "rate_limits": {
        "submit": {"rate": 1000, "burst": 1000},
        "submit_per_key": {"rate": 1000, "burst": 1000},
        "read": {"rate": 5000, "burst": 5000},
        "read_per_key": {"rate": 5000, "burst": 5000},
    },
    "ready_arms": ["orchestrator", "echo", "noop", "sleep", "fail"],
    "sse_keepalive_seconds": 1.0,
    "ready_cache_seconds": 0.5,
}


def api_settings(**overrides: Any) -> ApiSettings:
    return ApiSettings.model_validate({**GENEROUS, **overrides})


def make_key(stack: LiveStack, tenant: str, scopes: list[str] | None = None) -> str:
    db = Database(stack.database_url)
    try:
        return apikeys.create_key(db, tenant, scopes or ALL_SCOPES)[1]
    finally:
        db.dispose()


@pytest.fixture
def api_stack(stack: LiveStack) -> LiveStack:
    """The default ``stack`` (the shared fleet unless the test is marked ``own_stack``)."""
    return stack


@contextmanager
def inproc_client(stack: LiveStack, **overrides: Any) -> Iterator[TestClient]:
    app = create_app(stack.settings(), api_settings(**overrides))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def headers(key: str, **extra: str) -> dict[str, str]:
    return {"X-API-Key": key, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiServer:
    """A real ``uvicorn`` process serving ``create_app`` from the environment."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def _api_env(stack: LiveStack, overrides: dict[str, Any]) -> dict[str, str]:
    env = stack.env()
    for name, value in {**GENEROUS, **overrides}.items():
        env[f"OCTOLLM_API__{name.upper()}"] = (
            json.dumps(value) if isinstance(value, dict | list) else str(value)
        )
    return env


@contextmanager
def api_server(
    stack: LiveStack, name: str = "api", workers: int = 1, **overrides: Any
) -> Iterator[ApiServer]:
    port = free_port()
    log_path = stack.tmp / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "octollm.api.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        *(["--workers", str(workers)] if workers > 1 else []),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_api_env(stack, overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ApiServer(proc, port, log_path)
    try:
        deadline = time.monotonic() + 90  # uvicorn on a loaded 2-core machine
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API {name} did not start:\n{server.log()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


def echo_plan(steps: int = 1, sleep: float = 0.0) -> dict[str, Any]:
    """A chain of ``steps`` echo steps."""
    return {
        "steps": [
            {
                "step_id": f"s{i}",
                "arm": "echo",
                "action": f"step {i}",
                "input": {"sleep": sleep},
                "depends_on": [f"s{i - 1}"] if i else [],
            }
            for i in range(steps)
        ]
    }


def wait_status(
    client: Any, task_id: str, key: str, statuses: tuple[str, ...], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/tasks/{task_id}", headers=headers(key)).json()
        if body.get("status") in statuses:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {body.get('status')} after {timeout} s")
        time.sleep(0.1)
