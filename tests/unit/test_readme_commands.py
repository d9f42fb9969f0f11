"""Every ``octollm`` command line in README.md's code blocks, copied from the README (not
retyped), names a real command and passes its option parsing: a renamed command, a removed
flag or a mistyped option in the docs fails here. (Running them end to end is what the e2e and
integration tests do: the embedded run, ingest-then-ask, the Procfile, the explicit plan.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from octollm.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
START = re.compile(r"(?:^|\$\(|&&\s*)(?:\S+=\S+\s+)*(?:\.venv/bin/|scripts/)?octollm\s")
SHELL_BLOCKS = {"bash", "sh", "console", "shell"}


def _words(rest: str) -> list[str]:
    """The command's words, up to the shell punctuation that ends it (``&``, ``|``, ``)``)."""
    lexer = shlex.shlex(rest, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.whitespace_split = True
    words = []
    for word in lexer:
        if word and set(word) <= set("&|);<>"):
            break
        words.append(word)
    return words


def readme_commands() -> list[list[str]]:
    """Each ``octollm ...`` invocation in README.md's shell code blocks, as argv words."""
    found, fence = [], None
    lines = (ROOT / "README.md").read_text().replace("\\\n", " ").splitlines()
    for line in lines:
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "bash")
            continue
        if fence not in SHELL_BLOCKS or line.lstrip().startswith("#"):
            continue
        for match in START.finditer(line.strip()):
            found.append(_words(line.strip()[match.end() :]))
    return found


COMMANDS = readme_commands()


def test_the_readme_shows_the_commands_this_test_checks() -> None:
    assert len(COMMANDS) >= 25, COMMANDS
    assert ["run", "Write a Python function is_prime(n) and check it on 2, 15 and 17"] in COMMANDS
    assert ["tasks", "list", "--status", "failed"] in COMMANDS


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args)[:60])
def test_a_readme_command_parses(args: list[str]) -> None:
    line = " ".join(args)
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("octollm", list(args), resilient_parsing=False)
    while hasattr(command, "resolve_command"):  # a group (typer ships its own Click)
        # What a group leaves for its subcommand (Click keeps the name apart from the rest).
        pending = [*getattr(ctx, "_protected_args", []), *ctx.args]
        if not pending:
            break
        name, sub, rest = command.resolve_command(ctx, pending)
        assert sub is not None, f"unknown command {name!r} in README line: {line}"
        command = sub
        ctx = sub.make_context(name or "", rest, parent=ctx, resilient_parsing=False)
