"""The arm registry on real workers: pools register their arms' capabilities at start and keep
a heartbeat; health follows heartbeats and recent outcomes; a plan step that names
capabilities instead of an arm runs on the best registered arm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.config import get_settings
from octollm.config.registry import RegistrySettings
from octollm.contracts import TaskContract
from octollm.contracts.arm_capability import ArmHealth
from octollm.contracts.task import Budget
from octollm.errors import InvalidPlan
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.registry.directory import ArmDirectory
from octollm.store import arm_registry
from tests.support.stack import (
    LiveStack,
    live_stack,
    make_runtime,
    steps_of,
    wait_for_task,
    wait_until,
)


@pytest.fixture
def registry_stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path, OCTOLLM_REGISTRY__HEARTBEAT_SECONDS="1") as stack:
        yield stack


@pytest.fixture
def rt(registry_stack: LiveStack) -> Iterator[Any]:
    runtime = make_runtime(registry_stack)
    yield runtime
    runtime.db.dispose()


def directory(stack: LiveStack) -> ArmDirectory:
    return ArmDirectory(stack.redis(), RegistrySettings(heartbeat_seconds=1))


def health(stack: LiveStack, arm: str) -> ArmHealth:
    return directory(stack).statuses([arm])[arm].health


def test_a_pool_registers_its_arms_capabilities_and_heartbeats_until_it_stops(
    registry_stack: LiveStack, rt: Any
) -> None:
    assert health(registry_stack, "judge") is ArmHealth.UNAVAILABLE
    worker = registry_stack.start_worker(["judge"])
    wait_until(lambda: health(registry_stack, "judge") is ArmHealth.HEALTHY, 10, "a heartbeat")
    status = directory(registry_stack).statuses(["judge", "coder"])
    assert status["judge"].workers == 1
    assert status["judge"].capability is not None
    assert status["judge"].capability.cost_tier == 2
    assert status["coder"].health is ArmHealth.UNAVAILABLE
    with rt.db.session() as session:
        rows = {r.name: r for r in arm_registry.all_registrations(session)}
    judge = rows["judge"]
    assert {"result_validation", "code_analysis"} <= set(judge.capabilities)
    assert judge.details["success_rate"] == 0.98
    assert judge.details["max_concurrent_tasks"] == 30
    assert judge.details["source"] == "pool"
    assert judge.registered_by.startswith("pool:")
    worker.stop()
    assert health(registry_stack, "judge") is ArmHealth.UNAVAILABLE, "withdrawn at shutdown"


def test_an_arm_whose_recent_steps_keep_failing_is_degraded(
    registry_stack: LiveStack, rt: Any
) -> None:
    registry_stack.start_fleet(["orchestrator", "fail", "echo"])
    plan = {"steps": [{"step_id": "f", "arm": "fail", "action": "fails", "critical": False}]}
    for _ in range(5):
        task = lifecycle.submit(
            rt, TaskContract(goal="a failing step", plan=plan, budget=Budget(max_retries=0))
        )
        wait_for_task(rt, task.id, timeout=20)
    wait_until(lambda: health(registry_stack, "echo") is ArmHealth.HEALTHY, 10, "echo alive")
    status = directory(registry_stack).statuses(["fail"])["fail"]
    assert (status.succeeded, status.failed) == (0, 5)
    assert status.health is ArmHealth.DEGRADED


@pytest.fixture
def process_settings(registry_stack: LiveStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's settings point at the stack's Redis: plan expansion reads the registry."""
    monkeypatch.setenv("OCTOLLM_BROKER__URL", registry_stack.redis_url)
    monkeypatch.setenv("OCTOLLM_REGISTRY__HEARTBEAT_SECONDS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def auto_plan(capabilities: list[str], **step_input: Any) -> dict[str, Any]:
    step = {"capabilities": capabilities, **step_input}
    return {"steps": [{"step_id": "check", "arm": "auto", "action": "check", "input": step}]}


def test_a_step_that_names_capabilities_runs_on_the_best_live_arm_offering_them(
    registry_stack: LiveStack, rt: Any, process_settings: None
) -> None:
    registry_stack.start_fleet(["orchestrator", "judge"])
    wait_until(lambda: health(registry_stack, "judge") is ArmHealth.HEALTHY, 10, "judge alive")
    plan = auto_plan(["code_analysis"], code="def f():\n    return 1\n")
    task = lifecycle.submit(rt, TaskContract(goal="analyse this code", plan=plan))
    row = wait_for_task(rt, task.id, timeout=30)
    step = steps_of(rt, task.id)["check"]
    assert row.status == "completed", row.error
    assert step.arm == "judge"
    assert step.input["_routing"]["arm"] == "judge"
    assert step.input["_routing"]["live_health"] is True
    assert row.result["steps"]["check"]["valid"] is True
    assert row.plan["steps"][0]["arm"] == "auto"


def test_a_plan_needing_capabilities_no_live_arm_offers_is_refused(
    registry_stack: LiveStack, rt: Any, process_settings: None
) -> None:
    registry_stack.start_worker(["judge"])
    wait_until(lambda: health(registry_stack, "judge") is ArmHealth.HEALTHY, 10, "judge alive")
    with pytest.raises(InvalidPlan, match="code_generation"):
        lifecycle.submit(
            rt, TaskContract(goal="write some code", plan=auto_plan(["code_generation"]))
        )


def test_a_plan_step_named_auto_must_say_which_capabilities_it_needs() -> None:
    with pytest.raises(InvalidPlan, match=r"input\.capabilities"):
        lifecycle.validate_plan(
            {"steps": [{"step_id": "x", "arm": "auto", "action": "do", "input": {}}]}
        )
