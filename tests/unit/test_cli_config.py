"""``octollm config show`` and ``octollm config docs`` as a user runs them (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def octollm(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("OCTOLLM_")}
    return subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", *args],
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_config_show_prints_values_sources_and_the_fleet_with_secrets_masked(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("OCTOLLM_LLM__MODEL=from-dotenv\n")
    run = octollm(
        tmp_path,
        "config",
        "show",
        "--json",
        OCTOLLM_BROKER__URL="redis://:hunter2@127.0.0.1:6379/3",
        OCTOLLM_LLM__API_KEY="sk-secret-value",
        OCTOLLM_API__SCREENING="block",
        OCTOLLM_BROKR__URL="typo",
    )
    assert run.returncode == 0, run.stderr
    assert "hunter2" not in run.stdout
    assert "sk-secret-value" not in run.stdout
    document = json.loads(run.stdout)
    rows = {row["setting"]: row for row in document["settings"]}
    assert rows["broker.url"]["value"] == "redis://:***@127.0.0.1:6379/3"
    assert rows["broker.url"]["source"] == "env OCTOLLM_BROKER__URL"
    assert rows["llm.api_key"]["value"] == "**********"
    assert rows["llm.model"] == {
        "setting": "llm.model",
        "env": "OCTOLLM_LLM__MODEL",
        "value": "from-dotenv",
        "source": ".env OCTOLLM_LLM__MODEL",
    }
    assert rows["api.screening"]["value"] == "block"
    assert rows["queue_prefix"]["source"] == "default"
    assert document["fleet"]["file"] == str(
        ROOT / "octollm" / "orchestrator" / "broker" / "fleet.toml"
    )
    assert "executor" in document["fleet"]["pools"]
    assert document["ignored_variables"] == ["OCTOLLM_BROKR__URL"]


def test_config_show_names_a_chosen_fleet_file_and_prints_a_readable_table(
    tmp_path: Path,
) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text('[pools.solo]\narms = ["planner", "judge"]\npool = "solo"\nconcurrency = 1\n')
    run = octollm(tmp_path, "config", "show", OCTOLLM_FLEET_FILE=str(fleet))
    assert run.returncode == 0, run.stderr
    assert "OCTOLLM_API__MAX_IN_FLIGHT" in run.stdout
    assert "env OCTOLLM_FLEET_FILE" in run.stdout
    assert str(fleet) in run.stdout
    assert "planner, judge" in run.stdout


def test_config_docs_check_fails_on_a_stale_page(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration\n")
    assert octollm(tmp_path, "config", "docs", "--output", str(stale), "--check").returncode == 1
    assert octollm(tmp_path, "config", "docs", "--output", str(stale)).returncode == 0
    assert octollm(tmp_path, "config", "docs", "--output", str(stale), "--check").returncode == 0
    assert stale.read_text() == (ROOT / "docs" / "configuration.md").read_text()
