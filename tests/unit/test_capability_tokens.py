"""Capability tokens: Ed25519 (EdDSA) pinned under a key id, audience = the arm, bound to one
step and generation, with a keyring generated once per data directory or configured as files;
and the grants the orchestrator puts in them."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import jwt
import pytest

from octollm.config.capability import CapabilitySettings
from octollm.orchestrator.capability.grants import grant_for
from octollm.orchestrator.capability.issuing import expiry
from octollm.security import keyring
from octollm.security.capability import (
    ALGORITHM,
    CapabilityAuthority,
    TokenRefused,
    token_id,
)
from octollm.security.keyring import Keyring, KeyringError

KEY = Keyring.generate()
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


def test_a_token_signed_with_another_key_under_a_known_kid_is_refused() -> None:
    attacker = Keyring.generate()
    kid, key = attacker.signing  # type: ignore[misc]
    stolen_kid = Keyring({KEY.current_kid: attacker.verifying[kid]}, (KEY.current_kid, key))  # type: ignore[dict-item]
    forged = issue(CapabilityAuthority(stolen_kid))
    assert refusal(CapabilityAuthority(KEY), forged).kind == "bad_signature"


def test_a_token_under_an_unknown_kid_is_refused_with_the_fix_in_one_line() -> None:
    exc = refusal(CapabilityAuthority(KEY), issue(CapabilityAuthority(Keyring.generate())))
    assert exc.kind == "unknown_key"
    assert "\n" not in exc.message
    assert "OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE" in exc.message
    assert "export-public" in exc.message


@pytest.mark.parametrize("algorithm", ["HS256", "HS512", "none"])
def test_only_eddsa_is_accepted(algorithm: str) -> None:
    token = issue(CapabilityAuthority(KEY))
    claims = jwt.decode(token, options={"verify_signature": False})
    header = {"kid": KEY.current_kid}
    other = jwt.encode(
        claims, b"k" * 64 if algorithm != "none" else None, algorithm=algorithm, headers=header
    )
    assert refusal(CapabilityAuthority(KEY), other).kind == "malformed"
    assert jwt.get_unverified_header(token) == {
        "alg": ALGORITHM,
        "kid": KEY.current_kid,
        "typ": "JWT",
    }


def test_a_verify_only_keyring_checks_tokens_but_cannot_mint_them() -> None:
    public = CapabilityAuthority(Keyring(KEY.verifying, source="public.jwks"))
    public.verify(issue(CapabilityAuthority(KEY)), audience="executor", **STEP)  # type: ignore[arg-type]
    assert not public.can_issue
    with pytest.raises(KeyringError, match="only public capability keys"):
        issue(public)


def test_a_rotation_signs_with_the_new_key_and_still_verifies_the_previous_one() -> None:
    before = issue(CapabilityAuthority(KEY))
    rotated = KEY.rotated()
    assert rotated.kids[1:] == [KEY.current_kid]
    after = CapabilityAuthority(rotated)
    after.verify(before, audience="executor", **STEP)  # type: ignore[arg-type]
    assert jwt.get_unverified_header(issue(after))["kid"] == rotated.current_kid
    twice = rotated.rotated().rotated()
    assert len(twice.kids) == 2, "current + previous only"


def test_garbage_is_a_malformed_token_and_has_no_id() -> None:
    assert refusal(CapabilityAuthority(KEY), "not.a.jwt").kind == "malformed"
    assert token_id("not.a.jwt") is None


def test_the_keyring_is_generated_once_per_data_dir_private_and_shared(tmp_path: Path) -> None:
    first, generated = keyring.load(None, None, tmp_path)
    second, _ = keyring.load(None, None, tmp_path)
    assert generated
    assert first.current_kid == second.current_kid
    assert first.current_kid is not None
    mode = stat.S_IMODE(os.stat(tmp_path / "capability.jwks").st_mode)
    assert mode == 0o600


def test_configured_key_files_win_and_a_public_file_gives_a_verify_only_keyring(
    tmp_path: Path,
) -> None:
    ring = Keyring.generate()
    keyring.write(tmp_path / "private.jwks", ring.private_jwks(), private=True)
    keyring.write(tmp_path / "public.jwks", ring.public_jwks(), private=False)
    assert '"d"' not in (tmp_path / "public.jwks").read_text()
    own, generated = keyring.load(tmp_path / "private.jwks", None, tmp_path)
    assert (own.current_kid, generated) == (ring.current_kid, False)
    public, _ = keyring.load(None, tmp_path / "public.jwks", tmp_path)
    assert (public.signing, public.kids) == (None, ring.kids)
    assert not (tmp_path / "capability.jwks").exists()
    with pytest.raises(KeyringError, match="holds no private key"):
        keyring.load(tmp_path / "public.jwks", None, tmp_path)
    with pytest.raises(KeyringError, match="does not exist"):
        keyring.load(None, tmp_path / "missing.jwks", tmp_path)


def test_the_old_shared_secret_setting_is_refused_with_the_way_forward() -> None:
    with pytest.raises(ValueError, match="octollm keys capability rotate"):
        CapabilitySettings(secret="s" * 32)  # type: ignore[arg-type]


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


def test_a_rotated_key_file_reaches_a_running_process_without_a_restart(tmp_path: Path) -> None:
    from octollm.config import Settings
    from octollm.orchestrator.capability import issuing

    path = tmp_path / "capability.jwks"
    first = Keyring.generate()
    keyring.write(path, first.private_jwks(), private=True)
    settings = Settings(data_dir=tmp_path, capability=CapabilitySettings(keys_file=path))
    before = issuing.authority(settings)
    assert before.keyring.current_kid == first.current_kid
    rotated = keyring.read(path).rotated()
    keyring.write(path, rotated.private_jwks(), private=True)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    after = issuing.authority(settings)
    assert after.keyring.current_kid == rotated.current_kid
    assert first.current_kid in after.keyring.kids
