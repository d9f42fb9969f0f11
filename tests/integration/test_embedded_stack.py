"""The embedded default services, as real processes: PostgreSQL, Redis and llama.cpp's server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis
import sqlalchemy
from kombu import Connection

from octollm.config.settings import (
    BrokerSettings,
    DatabaseSettings,
    EmbeddedSettings,
    LLMSettings,
    Settings,
)
from octollm.embedded import EmbeddedStack
from octollm.errors import ServiceUnavailable


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: as root, PostgreSQL runs as another user who must traverse the
    # parent directories, and any pytest session starting meanwhile closes
    # /tmp/pytest-of-<user> to 0700 again.
    path = Path(tempfile.mkdtemp(prefix="octollm-stack-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Nothing configured: every service is embedded. No OCTOLLM_* variable leaks in."""
    for key in list(os.environ):
        if key.startswith("OCTOLLM_"):
            monkeypatch.delenv(key)
    return Settings(
        data_dir=data_dir,
        database=DatabaseSettings(),
        broker=BrokerSettings(),
        llm=LLMSettings(),
        embedded=EmbeddedSettings(start_timeout_seconds=60),
    )


def only_postgres(settings: Settings) -> Settings:
    """Broker and LLM "configured" (never contacted), so the stack starts PostgreSQL alone."""
    return settings.model_copy(
        update={
            "broker": BrokerSettings(url="redis://127.0.0.1:1/0"),
            "llm": LLMSettings(base_url="http://127.0.0.1:1/v1", model="remote-model"),
        }
    )


def process_tree(stack: EmbeddedStack) -> list[psutil.Process]:
    """Every process the stack started, with their descendants (e.g. postgres backends)."""
    tree = []
    for managed in stack.processes.values():
        leader = psutil.Process(managed.pid)
        tree += [leader, *leader.children(recursive=True)]
    return tree


def still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    # Orphans become zombies of an init that may not reap them: a zombie runs nothing.
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_the_stack_serves_postgres_redis_and_the_llm(settings: Settings) -> None:
    with EmbeddedStack(settings) as stack:
        s = stack.settings
        assert s.database.url is not None
        assert s.broker.url is not None
        assert s.broker.redis_url is not None
        assert s.llm.base_url is not None

        engine = sqlalchemy.create_engine(s.database.url.get_secret_value())
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == "octollm"
        engine.dispose()

        client = redis.Redis.from_url(s.broker.redis_url.get_secret_value())
        assert client.ping()
        client.close()

        with Connection(s.broker.url.get_secret_value()) as broker:
            broker.connect()
            assert broker.connected

        models = httpx.get(f"{s.llm.base_url}/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == [s.llm.model]
        reply = httpx.post(
            f"{s.llm.base_url}/chat/completions",
            json={
                "model": s.llm.model,
                "messages": [{"role": "user", "content": "Say hello."}],
                "max_tokens": 8,
            },
            timeout=60,
        )
        assert reply.status_code == 200
        body = reply.json()
        assert isinstance(body["choices"][0]["message"]["content"], str)
        assert 0 < body["usage"]["completion_tokens"] <= 8

        env = stack.env()
        assert env["OCTOLLM_DATABASE__URL"].startswith(
            "postgresql+psycopg://postgres@/octollm?host=/"
        )
        assert env["OCTOLLM_BROKER__URL"].startswith("redis+socket:///")
        assert env["OCTOLLM_BROKER__REDIS_URL"].startswith("unix:///")
        assert env["OCTOLLM_LLM__BASE_URL"] == s.llm.base_url
        assert env["OCTOLLM_LLM__MODEL"] == s.llm.model
        assert env["OCTOLLM_DATA_DIR"] == str(settings.data_dir.resolve())
    assert "OCTOLLM_DATABASE__URL" not in os.environ  # env() describes, it does not export


def test_the_stack_leaves_no_process_behind(settings: Settings) -> None:
    with EmbeddedStack(settings) as stack:
        assert set(stack.processes) == {"postgres", "redis", "llm"}
        tree = process_tree(stack)
        assert len(tree) > 3  # the postmaster has background workers
    assert still_running(tree) == []


def test_the_stack_stops_everything_when_the_body_is_interrupted(settings: Settings) -> None:
    tree: list[psutil.Process] = []

    def interrupted_run() -> None:
        with EmbeddedStack(settings) as stack:
            tree.extend(process_tree(stack))
            raise KeyboardInterrupt  # what Ctrl-C, or SIGTERM with the CLI's handler, raises

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    assert tree
    assert still_running(tree) == []


def test_a_service_that_fails_to_start_stops_the_others(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    settings = settings.model_copy(
        update={"embedded": settings.embedded.model_copy(update={"llm_model_path": broken})}
    )
    before = set(psutil.Process().children())
    with pytest.raises(ServiceUnavailable, match="llm exited during start") as failure:
        EmbeddedStack(settings).start()
    assert failure.value.details["log"].endswith("llm.log")
    assert still_running(list(set(psutil.Process().children()) - before)) == []


def test_only_the_missing_services_are_started(settings: Settings) -> None:
    with EmbeddedStack(only_postgres(settings)) as stack:
        assert set(stack.processes) == {"postgres"}
        assert stack.settings.llm.base_url == "http://127.0.0.1:1/v1"
        assert stack.settings.llm.model == "remote-model"
        assert stack.env()["OCTOLLM_BROKER__URL"] == "redis://127.0.0.1:1/0"


def test_a_second_stack_reuses_the_database_of_the_first(settings: Settings) -> None:
    with EmbeddedStack(only_postgres(settings)) as first:
        engine = sqlalchemy.create_engine(first.settings.require_database_url())
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE kept (note text)"))
            conn.execute(sqlalchemy.text("INSERT INTO kept VALUES ('still here')"))
        engine.dispose()
    with EmbeddedStack(only_postgres(settings)) as second:
        engine = sqlalchemy.create_engine(second.settings.require_database_url())
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT note FROM kept")).scalar() == "still here"
        engine.dispose()


def test_a_stale_postmaster_pid_does_not_block_the_next_start(settings: Settings) -> None:
    with EmbeddedStack(only_postgres(settings)):
        pass
    pgdata = settings.data_dir / "postgres"
    # A killed run left its lock file, and the pid in it now belongs to another process.
    (pgdata / "postmaster.pid").write_text(
        f"{os.getpid()}\n{pgdata}\n{int(time.time())}\n5432\n{pgdata}\n\n  5432001 0\nready\n"
    )
    with EmbeddedStack(only_postgres(settings)) as stack:
        assert stack.processes["postgres"].alive()


def test_a_spawned_child_dies_with_its_killed_parent(tmp_path: Path) -> None:
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from octollm.embedded.processes import spawn
        child = spawn(["sleep", "60"], env=None, log_path=Path({str(tmp_path / "c.log")!r}),
                      name="sleeper")
        print(child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert parent.stdout is not None
    line = b""
    while not line.strip().isdigit():  # structlog's default output shares stdout
        line = parent.stdout.readline()
        assert line, "the parent exited before printing the child's pid"
    child = psutil.Process(int(line))
    assert child.status() != psutil.STATUS_ZOMBIE
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while still_running([child]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert still_running([child]) == []


@pytest.fixture(autouse=True)
def _no_leftover_from_a_failed_test() -> Iterator[None]:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    for proc in psutil.Process().children(recursive=True):
        if proc.pid not in before:
            proc.kill()
