"""Event types and outcome reasons are enums: what is emitted is declared, nothing is parsed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from octollm.contracts.event import TERMINAL_EVENTS, Event, EventType
from octollm.contracts.outcome import OutcomeReason
from octollm.orchestrator.capability.admission import needs_fresh_token
from octollm.orchestrator.engine.outcomes import Outcome

ROOT = Path(__file__).resolve().parents[2] / "octollm"


def test_every_event_type_is_a_valid_event_type_string() -> None:
    for kind in EventType:
        assert Event(event_type=kind.value).event_type == kind.value
    assert "task.completed" in TERMINAL_EVENTS
    assert EventType.of_task("failed") is EventType.TASK_FAILED
    with pytest.raises(ValueError, match=r"task\.wandering"):
        EventType.of_task("wandering")


def test_every_emit_call_names_an_event_type_member() -> None:
    calls = 0
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "emit":
                calls += 1
                first = node.args[0]
                assert not isinstance(first, ast.Constant | ast.JoinedStr), (
                    f"{path}:{node.lineno} passes a string to emit()"
                )
    assert calls >= 15


def test_an_outcome_reports_its_reason_and_code_as_the_celery_result_did() -> None:
    assert Outcome("done").detail == ""
    assert Outcome("noop", OutcomeReason.STALE).detail == "stale"
    assert Outcome("noop", OutcomeReason.REFUSED, code="expired").detail == "refused:expired"
    assert Outcome("failed", OutcomeReason.ERROR, code="ARM_FAILED").detail == "ARM_FAILED"


def test_only_a_busy_retry_keeps_its_token() -> None:
    assert needs_fresh_token("retry", OutcomeReason.ERROR)
    assert not needs_fresh_token("retry", OutcomeReason.BUSY)
    assert not needs_fresh_token("noop", OutcomeReason.DUPLICATE)
