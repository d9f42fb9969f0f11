"""Capability tokens: HS256 pinned, audience = the arm, bound to one step and generation, with
the key generated once per data directory; and the grants the orchestrator puts in them."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from octollm.config.capability import CapabilitySettings
from octollm.errors import InvalidInput
from octollm.orchestrator.capability.grants import grant_for
from octollm.orchestrator.capability.issuing import expiry
from octollm.security.capability import (
    ALGORITHM,
    CapabilityAuthority,
    TokenRefused,
    load_key,
    token_id,
)

KEY = b"k" * 40
STEP = {"task_id": "task-1", "step_id": "run", "generation": 2}


def issue(authority: CapabilityAuthority, **overrides: object) -> str:
    fields: dict[str, object] = {
        "arm": "executor",
        **STEP,
        "expires_at": time.time() + 60,
        "scopes": ("step:run", "sandbox:execute"),
        "constraints": {"allowed_commands": ["python"], "max_duration": 30, "network": False},
    }
    fields.update(overrides)
    return authority.issue(**fields)  # type: ignore[arg-type]


def refusal(authority: CapabilityAuthority, token: str | None, **expect: object) -> TokenRefused:
    target = {"audience": "executor", **STEP, **expect}
    with pytest.raises(TokenRefused) as caught:
        authority.verify(token, **target)  # type: ignore[arg-type]
    return caught.value


def test_a_token_round_trips_with_its_scopes_and_constraints() -> None:
    authority = CapabilityAuthority(KEY)
    cap = authority.verify(issue(authority), audience="executor", **STEP)  # type: ignore[arg-type]
    assert (cap.arm, cap.task_id, cap.step_id, cap.generation) == ("executor", "task-1", "run", 2)
    assert cap.allows("sandbox:execute")
    assert not cap.allows("arm:call:judge")
    assert cap.constraints == {"allowed_commands": ["python"], "max_duration": 30, "network": False}
    assert len(cap.jti) == 32
    assert 50 < cap.seconds_left() <= 60


def test_a_missing_token_is_refused() -> None:
    assert refusal(CapabilityAuthority(KEY), None).kind == "missing"


def test_an_expired_token_is_refused_beyond_the_leeway() -> None:
    authority = CapabilityAuthority(KEY, leeway_seconds=1)
    late = issue(authority, expires_at=time.time() - 5, now=time.time() - 65)
    assert refusal(authority, late).kind == "expired"


def test_a_token_for_another_arm_is_refused_naming_its_audience() -> None:
    authority = CapabilityAuthority(KEY)
    exc = refusal(authority, issue(authority, arm="coder"))
    assert exc.kind == "wrong_audience"
    assert exc.details["token_audience"] == "coder"


@pytest.mark.parametrize("other", [{"step_id": "other"}, {"task_id": "task-2"}, {"generation": 3}])
def test_a_token_for_another_step_task_or_generation_is_refused(other: dict[str, object]) -> None:
    authority = CapabilityAuthority(KEY)
    assert refusal(authority, issue(authority), **other).kind == "wrong_subject"


def test_a_token_signed_with_another_key_is_refused() -> None:
    forged = issue(CapabilityAuthority(b"x" * 40))
    assert refusal(CapabilityAuthority(KEY), forged).kind == "bad_signature"


@pytest.mark.parametrize("algorithm", ["HS512", "none"])
def test_only_hs256_is_accepted(algorithm: str) -> None:
    claims = jwt.decode(issue(CapabilityAuthority(KEY)), options={"verify_signature": False})
    other = jwt.encode(claims, KEY * 2 if algorithm != "none" else None, algorithm=algorithm)
    assert refusal(CapabilityAuthority(KEY), other).kind == "malformed"
    assert jwt.get_unverified_header(issue(CapabilityAuthority(KEY)))["alg"] == ALGORITHM


def test_garbage_is_a_malformed_token_and_has_no_id() -> None:
    assert refusal(CapabilityAuthority(KEY), "not.a.jwt").kind == "malformed"
    assert token_id("not.a.jwt") is None


def test_the_key_is_generated_once_per_data_dir_private_and_shared(tmp_path: Path) -> None:
    first = load_key(CapabilitySettings(), tmp_path)
    second = load_key(CapabilitySettings(), tmp_path)
    assert first == second
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(tmp_path / "capability.key").st_mode)
    assert mode == 0o600


def test_a_configured_secret_wins_and_must_be_long_enough(tmp_path: Path) -> None:
    configured = CapabilitySettings(secret="s" * 32)  # type: ignore[arg-type]
    assert load_key(configured, tmp_path) == b"s" * 32
    assert not (tmp_path / "capability.key").exists()
    with pytest.raises(InvalidInput, match="at least 32 bytes"):
        load_key(CapabilitySettings(secret="short"), tmp_path)  # type: ignore[arg-type]


def test_the_executor_grant_names_the_one_command_its_step_runs() -> None:
    shell = grant_for("executor", {"language": "shell", "command": "ls -la"}, step_time_limit=900)
    expected = {"allowed_commands": ["ls"], "max_duration": 300.0, "network": False}
    assert shell.constraints == expected
    python = grant_for("executor", {"timeout_seconds": 12}, step_time_limit=900)
    assert python.constraints["allowed_commands"] == ["python"]
    assert python.constraints["max_duration"] == 12.0
    short = grant_for("executor", {}, step_time_limit=20)
    assert short.constraints["max_duration"] == 20.0
    assert "sandbox:execute" in shell.scopes


def test_only_the_coder_may_call_the_judge_and_plugins_get_the_bare_minimum() -> None:
    assert "arm:call:judge" in grant_for("coder", {}, step_time_limit=900).scopes
    assert "arm:call:judge" not in grant_for("planner", {}, step_time_limit=900).scopes
    assert grant_for("echo", {}, step_time_limit=900).scopes == ("step:run", "arm:echo")


def test_a_token_lives_until_the_task_deadline_within_its_bounds() -> None:
    from datetime import UTC, datetime, timedelta

    now = time.time()
    soon = datetime.fromtimestamp(now, UTC) + timedelta(seconds=300)
    assert expiry(soon, 900, 60, now) == pytest.approx(now + 300)
    later = datetime.fromtimestamp(now, UTC) + timedelta(hours=5)
    assert expiry(later, 900, 60, now) == pytest.approx(now + 900)
    past = datetime.fromtimestamp(now, UTC) - timedelta(seconds=10)
    assert expiry(past, 900, 60, now) == pytest.approx(now + 60)
    assert expiry(None, 900, 60, now) == pytest.approx(now + 900)
