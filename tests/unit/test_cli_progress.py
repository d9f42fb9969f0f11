"""The CLI's live view of a task shows the results of its call checks."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from octollm.cli.progress import render


def _step(step_id: str, arm: str, output: dict[str, Any]) -> dict[str, Any]:
    return {
        "step_id": step_id,
        "arm": arm,
        "status": "succeeded",
        "attempts": 1,
        "tokens": 0,
        "duration_ms": 12.0,
        "started_at": None,
        "error": None,
        "output": output,
    }


def test_each_check_result_is_shown_under_its_step() -> None:
    record = {
        "task_id": "task-1",
        "status": "completed",
        "tokens_used": 10,
        "steps": [
            _step(
                "run",
                "executor",
                {
                    "checks": [
                        {"call": "is_prime(2)", "result": "True"},
                        {"call": "is_prime(15)", "error": "EOFError: EOF when reading a line"},
                    ]
                },
            ),
            _step(
                "verify",
                "judge",
                {
                    "valid": False,
                    "issues": [
                        {"severity": "warning", "message": "F841: unused variable"},
                        {"severity": "error", "message": "check is_prime(15) raised EOFError"},
                    ],
                },
            ),
        ],
    }
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render(record, 0.0, "completed"))
    text = out.getvalue()
    assert "is_prime(2) -> True" in text
    assert "is_prime(15) raised EOFError: EOF when reading a line" in text
