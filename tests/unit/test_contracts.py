"""Contracts: strict validation with messages that name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from octollm.contracts import Plan, TaskContract, is_task_id, topological_levels


def test_a_task_id_is_task_dash_uuid4() -> None:
    contract = TaskContract(goal="Write a function that adds numbers")
    assert is_task_id(contract.task_id)
    with pytest.raises(ValidationError, match="task_id"):
        TaskContract(goal="Write a function that adds numbers", task_id="task-123")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("goal", "short"),
        ("goal", "x" * 2001),
        ("constraints", ["c"] * 21),
        ("acceptance_criteria", ["c"] * 11),
        ("priority", "urgent"),
        ("budget", {"max_tokens": 0}),
        ("budget", {"max_retries": -1}),
        ("deadline", "2000-01-01T00:00:00Z"),
    ],
)
def test_bad_fields_are_rejected_by_name(field: str, value: object) -> None:
    data = {"goal": "Write a function that adds numbers", field: value}
    with pytest.raises(ValidationError) as info:
        TaskContract.model_validate(data)
    assert field in str(info.value)


def _plan(*steps: dict[str, object]) -> dict[str, object]:
    return {"steps": list(steps)}


def test_a_plan_with_a_cycle_names_the_cycle() -> None:
    with pytest.raises(ValidationError, match=r"cycle: a -> b -> a"):
        Plan.model_validate(
            _plan(
                {"step_id": "a", "arm": "coder", "action": "x", "depends_on": ["b"]},
                {"step_id": "b", "arm": "coder", "action": "y", "depends_on": ["a"]},
            )
        )


def test_a_plan_with_a_dangling_dependency_names_the_step() -> None:
    with pytest.raises(
        ValidationError, match=r"steps\[0\] \(a\): depends_on names missing step 'zz'"
    ):
        Plan.model_validate(
            _plan({"step_id": "a", "arm": "coder", "action": "x", "depends_on": ["zz"]})
        )


def test_an_unknown_arm_is_rejected_when_the_registry_is_given() -> None:
    with pytest.raises(ValidationError, match="unknown arm 'wizard'"):
        Plan.model_validate(
            _plan({"step_id": "a", "arm": "wizard", "action": "x"}),
            context={"arms": {"coder", "judge"}},
        )


def test_levels_follow_dependencies_not_their_reverse() -> None:
    plan = Plan.model_validate(
        _plan(
            {"step_id": "d", "arm": "judge", "action": "x", "depends_on": ["b", "c"]},
            {"step_id": "a", "arm": "coder", "action": "x"},
            {"step_id": "b", "arm": "coder", "action": "x", "depends_on": ["a"]},
            {"step_id": "c", "arm": "coder", "action": "x", "depends_on": ["a"]},
        )
    )
    assert [[s.step_id for s in level] for level in topological_levels(plan.steps)] == [
        ["a"],
        ["b", "c"],
        ["d"],
    ]


def test_importing_contracts_pulls_in_no_io_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, octollm.contracts, octollm.arms.base; "
        "bad = [m for m in ('celery', 'sqlalchemy', 'redis', 'fastapi', 'httpx', "
        "'qdrant_client') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
