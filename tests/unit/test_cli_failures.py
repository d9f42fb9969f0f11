"""A failing command prints one line with a hint and a documented exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from octollm.cli.failures import FAILED, INVALID, describe
from octollm.errors import InvalidPlan, NotFound


def octollm(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")}
    # An empty data directory: no embedded PostgreSQL left by an earlier `octollm run` here.
    base["OCTOLLM_DATA_DIR"] = tempfile.mkdtemp(prefix="octollm-cli-")
    return subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
    )


def test_missing_database_url_is_one_line_with_a_hint() -> None:
    done = octollm("status", "task-doesnotexist")
    assert done.returncode == INVALID
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: OCTOLLM_DATABASE__URL is not set")
    assert "octollm run" in lines[0]
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback() -> None:
    done = octollm("--debug", "status", "task-doesnotexist")
    assert done.returncode != 0
    assert "Traceback" in done.stderr or "RuntimeError" in done.stderr


def test_unreachable_database_names_the_settings() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    done = octollm("status", "task-x", OCTOLLM_DATABASE__URL=url)
    assert done.returncode == FAILED
    assert "cannot reach a service" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_version() -> None:
    done = octollm("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("octollm ")


def test_unknown_arm_in_a_plan_is_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('{"steps":[{"step_id":"x","arm":"foo","action":"do it","input":{}}]}')
    done = octollm("submit", "--plan", str(plan), "--priority", "HIGH")
    assert done.returncode == INVALID
    text = " ".join(done.stderr.split())
    assert "invalid plan: steps[0] (x): unknown arm 'foo'; known arms:" in text
    assert "pydantic" not in text


def test_describe_maps_errors_to_exit_codes() -> None:
    class M(BaseModel):
        n: int

    with pytest.raises(ValidationError) as caught:
        M.model_validate({"n": "x"})
    line, code = describe(caught.value)
    assert code == INVALID
    assert line.startswith("invalid input: n:")
    assert describe(InvalidPlan("bad plan")) == ("bad plan", INVALID)
    assert describe(NotFound("task x not found"))[1] == FAILED


def test_a_broker_without_an_event_bus_is_refused_at_start() -> None:
    done = octollm("worker", "coder", OCTOLLM_BROKER__URL="amqp://guest:guest@127.0.0.1:5672//")
    assert done.returncode == INVALID
    assert "OCTOLLM_BROKER__REDIS_URL must be set" in done.stderr
