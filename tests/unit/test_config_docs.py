"""docs/configuration.md is generated from the Settings model and kept current by this test."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from octollm.config import Settings
from octollm.config.effective import leaves, section_type
from octollm.config.reference import COMMAND, render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_page_matches_the_settings_model() -> None:
    assert PAGE.read_text() == render(), f"docs/configuration.md is out of date: run `{COMMAND}`"


def test_every_setting_and_every_section_is_described() -> None:
    missing: list[str] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            if not (field.description or "").strip():
                missing.append(prefix + name)
            section = section_type(field)
            if section is not None:
                walk(section, f"{prefix}{name}.")

    walk(Settings, "")
    assert missing == []


def test_the_page_lists_every_variable_once() -> None:
    page = render()
    for leaf in leaves():
        assert page.count(f"| `{leaf.env}` |") == 1, leaf.env
    for name in ("OCTOLLM_ARM_PLUGINS", "OCTOLLM_FLEET_FILE", "OCTOLLM_API__SCREENING"):
        assert f"`{name}`" in page


def test_the_page_depends_on_no_machine_value() -> None:
    page = render()
    assert str(Path.home()) not in page
    assert "/work/" not in page
