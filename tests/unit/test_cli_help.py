"""``octollm COMMAND --help`` explains every command, and an on/off flag reads as one
(``--json``, not ``--json <bool>``, which looks as if it took a value)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer

from octollm.cli.main import app


def commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += commands(sub, (*path, name))
    return found


@pytest.mark.parametrize(
    ("path", "command"),
    commands(typer.main.get_command(app))[1:],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_every_command_says_what_it_does(path: tuple[str, ...], command: Any) -> None:
    assert (command.help or "").strip(), f"octollm {' '.join(path)} has no help text"


@pytest.mark.parametrize("args", [[], ["tasks", "list"], ["queues", "purge"], ["arms"]])
def test_flags_show_no_value_type_in_help(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")}
    done = subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", *args, "--help"],
        capture_output=True, text=True, env={**env, "COLUMNS": "160"}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout
    assert "<bool>" not in done.stdout, done.stdout
