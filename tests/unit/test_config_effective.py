"""The one settings root: its variables, the effective configuration's masking and sources, and
the structured errors of a missing setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from octollm.config import Settings
from octollm.config.effective import (
    MASK,
    Entry,
    entries,
    invalid,
    mask_url,
    masked,
    unknown_variables,
)
from octollm.config.settings import env_name
from octollm.errors import ConfigurationError, OctoError


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No OCTOLLM_* variable of the test process, and a working directory without a .env."""
    import os

    for key in [k for k in os.environ if k.upper().startswith("OCTOLLM_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def by_setting(rows: list[Entry]) -> dict[str, Entry]:
    return {row.setting: row for row in rows}


# --- one root, the old variable names --------------------------------------------------------


def test_the_api_edge_still_reads_its_octollm_api_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OCTOLLM_API__SCREENING", "block")
    clean_env.setenv("OCTOLLM_API__MAX_IN_FLIGHT", "7")
    clean_env.setenv("OCTOLLM_API__RATE_LIMITS__SUBMIT__RATE", "3")
    clean_env.setenv("OCTOLLM_API__RATE_LIMITS__SUBMIT__BURST", "5")
    clean_env.setenv(
        "OCTOLLM_API__TENANTS", '{"acme": {"screening": {"injection": {"high": "block"}}}}'
    )
    clean_env.setenv("OCTOLLM_API__WS_ALLOWED_ORIGINS", '["https://app.example.com"]')
    api = Settings().api
    assert api.screening == "block"
    assert api.max_in_flight == 7
    assert (api.rate_limits.submit.rate, api.rate_limits.submit.burst) == (3.0, 5)
    acme = api.screening_for("acme")
    assert not isinstance(acme, str)
    assert acme.injection == {"high": "block"}
    assert api.ws_allowed_origins == ("https://app.example.com",)


def test_arm_plugins_and_the_fleet_file_keep_their_variables(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("OCTOLLM_ARM_PLUGINS", "tests.support.arms:EchoArm")
    clean_env.setenv("OCTOLLM_FLEET_FILE", str(tmp_path / "fleet.toml"))
    settings = Settings()
    assert settings.arm_plugins == "tests.support.arms:EchoArm"
    assert settings.fleet_file == tmp_path / "fleet.toml"
    assert env_name("arm_plugins") == "OCTOLLM_ARM_PLUGINS"
    assert env_name("api.rate_limits.submit.rate") == "OCTOLLM_API__RATE_LIMITS__SUBMIT__RATE"


def test_a_dotenv_file_is_read_and_a_real_variable_wins_over_it(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("OCTOLLM_QUEUE_PREFIX=fromfile\nOCTOLLM_LLM__MODEL=filemodel\n")
    clean_env.setenv("OCTOLLM_LLM__MODEL", "envmodel")
    settings = Settings()
    assert settings.queue_prefix == "fromfile"
    assert settings.llm.model == "envmodel"


# --- structured errors -----------------------------------------------------------------------


def test_a_missing_database_url_names_the_setting_its_variable_and_a_hint() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(_env_file=None, database={"url": None}).require_database_url()
    error = caught.value
    assert isinstance(error, OctoError)
    assert error.code == "CONFIGURATION_ERROR"
    assert error.details["setting"] == "database.url"
    assert error.details["env"] == "OCTOLLM_DATABASE__URL"
    assert "octollm run" in error.details["hint"]
    assert "\n" not in error.message


def test_redis_must_be_named_beside_an_amqp_broker_and_runtime_error_handlers_catch_it() -> None:
    settings = Settings(_env_file=None, broker={"url": "amqp://guest:guest@localhost//"})
    with pytest.raises(RuntimeError) as caught:  # callers that predate ConfigurationError
        settings.redis_url()
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.details["env"] == "OCTOLLM_BROKER__REDIS_URL"


def test_an_invalid_setting_is_named_with_its_variable_and_its_value_is_not_echoed(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("OCTOLLM_FLOWER__PASSWORD", "sec,ret-value")
    with pytest.raises(ValidationError) as caught:
        Settings()
    text = invalid(caught.value)
    assert "flower.password (OCTOLLM_FLOWER__PASSWORD)" in text
    assert "sec,ret-value" not in text


# --- masking ---------------------------------------------------------------------------------


def test_a_secret_is_masked_whole_unless_it_is_a_url_whose_password_alone_is_masked() -> None:
    assert masked("api_key", SecretStr("sk-live-123")) == MASK
    assert masked("url", SecretStr("redis://:hunter2@cache:6379/0")) == "redis://:***@cache:6379/0"
    assert masked("url", SecretStr("postgresql+psycopg://app:pw@db/octo?sslpassword=x")) == (
        "postgresql+psycopg://app:***@db/octo?***"
    )
    assert masked("url", SecretStr("postgresql+psycopg://app@db/octo")) == (
        "postgresql+psycopg://app@db/octo"
    )
    assert masked("secret_keys", [SecretStr("k1"), SecretStr("k2")]) == [MASK, MASK]
    assert masked("url", None) is None


def test_text_named_like_a_secret_is_masked_but_a_count_named_tokens_is_not() -> None:
    assert masked("api_token", "abc") == MASK
    assert masked("password", "pw") == MASK
    assert masked("signing_secret", "s") == MASK
    assert masked("max_tokens", 768) == 768
    assert masked("model", "gpt-4o") == "gpt-4o"
    assert masked("password", "") == ""


def test_a_url_with_a_password_is_masked_in_any_value() -> None:
    assert masked("base_url", "https://user:pw@llm.example.com/v1") == (
        "https://user:***@llm.example.com/v1"
    )
    assert masked("base_url", "https://llm.example.com/v1") == "https://llm.example.com/v1"
    nested = {"acme": {"endpoint": "amqp://u:p@mq:5672//", "token": "t"}}
    assert masked("tenants", nested) == {
        "acme": {"endpoint": "amqp://u:***@mq:5672//", "token": MASK}
    }
    assert mask_url("redis://[::1]:6379/0") == "redis://[::1]:6379/0"


def test_no_secret_value_reaches_the_effective_configuration(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OCTOLLM_LLM__API_KEY", "sk-very-secret")
    clean_env.setenv("OCTOLLM_BROKER__URL", "redis://:hunter2@127.0.0.1:6379/3")
    clean_env.setenv("OCTOLLM_FLOWER__PASSWORD", "flowerpw")
    clean_env.setenv("OCTOLLM_WEBHOOKS__SECRET_KEYS", '["fernet-key-one"]')
    dumped = json.dumps([row.as_dict() for row in entries(Settings())])
    for secret in ("sk-very-secret", "hunter2", "flowerpw", "fernet-key-one"):
        assert secret not in dumped
    assert "redis://:***@127.0.0.1:6379/3" in dumped


# --- sources ---------------------------------------------------------------------------------


def test_each_value_names_its_source(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dotenv = tmp_path / "settings.env"
    dotenv.write_text("OCTOLLM_QUEUE_PREFIX=fromfile\nOCTOLLM_LLM__MODEL=shadowed\n")
    environ = {
        "OCTOLLM_LLM__MODEL": "envmodel",
        "OCTOLLM_API__RATE_LIMITS": '{"submit": {"rate": 1, "burst": 2}}',
        "OCTOLLM_API__RATE_LIMITS__READ__RATE": "9",
        "PATH": "/usr/bin",
    }
    for key, value in environ.items():
        clean_env.setenv(key, value)
    settings = Settings(_env_file=dotenv, log={"level": "DEBUG"})
    rows = by_setting(entries(settings, environ=environ, dotenv=dotenv))
    assert rows["llm.model"].source == "env OCTOLLM_LLM__MODEL"
    assert rows["llm.model"].value == "envmodel"
    assert rows["queue_prefix"].source == ".env OCTOLLM_QUEUE_PREFIX"
    assert rows["log.level"].source == "code"
    assert rows["llm.temperature"].source == "default"
    assert rows["api.rate_limits.submit.rate"].source == "env OCTOLLM_API__RATE_LIMITS"
    assert rows["api.rate_limits.read.rate"].source == (
        "env OCTOLLM_API__RATE_LIMITS, env OCTOLLM_API__RATE_LIMITS__READ__RATE"
    )
    assert rows["api.rate_limits.read.rate"].value == 9.0
    assert rows["api.rate_limits.read.burst"].value == 200  # the part left out keeps its default
    assert rows["api.rate_limits.read.rate"].env == "OCTOLLM_API__RATE_LIMITS__READ__RATE"


def test_a_nested_default_comes_from_its_section_default() -> None:
    rows = by_setting(entries(Settings(_env_file=None), environ={}, dotenv=Path("/nonexistent")))
    assert rows["api.rate_limits.submit.burst"].value == 40
    assert rows["api.rate_limits.submit.burst"].source == "default"


def test_a_variable_that_sets_nothing_is_reported() -> None:
    environ = {
        "OCTOLLM_BROKER__URL": "redis://x",
        "OCTOLLM_BROKR__URL": "redis://typo",
        "OCTOLLM_LLM__MODLE": "typo",
        "OCTOLLM_API__TENANTS__ACME__SCREENING": "block",
    }
    assert unknown_variables(environ) == ["OCTOLLM_BROKR__URL", "OCTOLLM_LLM__MODLE"]
