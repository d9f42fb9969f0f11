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


def test_each_repair_round_is_a_line_above_the_steps_it_queued() -> None:
    record = {
        "task_id": "task-1",
        "status": "processing",
        "tokens_used": 10,
        "rounds": [
            {
                "round": 1,
                "kind": "verdict",
                "decision": "repair",
                "verdict": "invalid",
                "target_step": "code",
                "failed_criteria": ["runs without errors"],
                "reason": "",
                "steps": ["code.r2", "run.r2"],
            }
        ],
        "steps": [_step("code", "coder", {}), _step("code.r2", "coder", {})],
    }
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render(record, 0.0, "running"))
    lines = out.getvalue().splitlines()
    (at,) = [i for i, line in enumerate(lines) if "round 1 invalid: repair code" in line]
    assert "runs without errors" in lines[at]
    assert "code.r2" in lines[at + 1]


def test_octollm_run_prints_the_answer_before_the_status_and_lists_each_criterion() -> None:
    from octollm.cli.run import _print_summary

    record = {
        "task_id": "task-1",
        "status": "failed",
        "tokens_used": 10,
        "error": {"code": "VERDICT_INVALID", "message": "criterion failed: runs without errors"},
        "result": {
            "answer": "def is_prime(n): ...",
            "verdict": {
                "status": "invalid",
                "criteria": [
                    {"criterion": "runs without errors", "status": "failed", "why": "raised"}
                ],
            },
            "rounds": [{}, {}, {}],
            "citations": [{"source": "handbook.md"}],
        },
        "steps": [],
    }
    out = io.StringIO()
    _print_summary(record, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert text.index("def is_prime(n): ...") < text.index("failed task-1")
    assert "verdict: invalid  (rounds: 3)" in text
    assert "failed: runs without errors (raised)" in text
    assert "[1] handbook.md" in text
