"""Layer 3: lint with ruff, when the ``ruff`` executable is available.

Runs ``ruff check --isolated --select ... --output-format json -`` on the code through stdin
with a short timeout. Isolated, so no project config in the cwd applies; the rule selection is
pinned (pyflakes, pycodestyle errors, bugbear) because ruff's default set changes between
releases and style nits such as import order are not what a judge should weigh.

Every violation is a ``style_issue`` warning. A missing or failing ruff yields one
``validation_skipped`` info issue: linting is advisory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from octollm.arms.judging.issues import Issue, at

MAX_LINT_ISSUES = 50
#: pycodestyle statement/syntax errors, pyflakes (undefined/unused names), bugbear (likely bugs)
RULES = "E4,E7,E9,F,B"


def find_ruff() -> str | None:
    """``ruff`` on PATH, else next to the running interpreter (an un-activated venv)."""
    found = shutil.which("ruff")
    if found:
        return found
    beside = Path(sys.executable).with_name("ruff")
    return str(beside) if beside.is_file() else None


def _skipped(reason: str) -> list[Issue]:
    return [Issue("info", "validation_skipped", f"lint skipped: {reason}")]


def lint(code: str, *, timeout: float, ruff: str | None = None) -> tuple[list[Issue], bool]:
    """Lint issues and whether ruff actually ran."""
    exe = ruff or find_ruff()
    if exe is None:
        return _skipped("the ruff executable is not available"), False
    argv = [exe, "check", "--isolated", "--no-cache", "--select", RULES, "--output-format", "json"]
    argv += ["--stdin-filename", "artefact.py", "-"]
    try:
        proc = subprocess.run(
            argv, input=code, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return _skipped(f"ruff took longer than {timeout:g}s"), False
    except OSError as exc:
        return _skipped(f"ruff could not start ({exc.strerror or exc})"), False
    if proc.returncode not in (0, 1):
        return _skipped(f"ruff exited with {proc.returncode}"), False
    try:
        found: list[dict[str, Any]] = json.loads(proc.stdout or "[]")
    except ValueError:
        return _skipped("ruff's output was not JSON"), False
    issues = [_issue(v) for v in found[:MAX_LINT_ISSUES]]
    if len(found) > MAX_LINT_ISSUES:
        more = len(found) - MAX_LINT_ISSUES
        issues.append(Issue("info", "style_issue", f"{more} more lint findings not listed"))
    return issues, True


def _issue(violation: dict[str, Any]) -> Issue:
    loc = violation.get("location") or {}
    fix = violation.get("fix") or {}
    rule = violation.get("code") or "ruff"
    return Issue(
        "warning",
        "style_issue",
        f"{rule}: {violation.get('message', '')}",
        location=at(loc.get("row"), loc.get("column")),
        suggestion=fix.get("message") or None,
    )
