"""A user's arm installed as a package with an ``octollm.arms`` entry point runs on a real
worker, registered with the capability it declares, without editing octollm.

The "installed package" is a tiny distribution (a module and its ``.dist-info`` with
``entry_points.txt``) in a temporary directory on ``PYTHONPATH``: exactly what
``importlib.metadata`` finds after ``pip install``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.arms import registry
from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.store import arm_registry
from tests.support.stack import ROOT, live_stack, make_runtime, wait_for_task, wait_until

ARM_MODULE = '''
from octollm.arms.base import ArmResult
from octollm.contracts.arm_io import ArmInput, ArmOutput


class ShoutInput(ArmInput):
    text: str = ""


class ShoutOutput(ArmOutput):
    text: str


class ShoutArm:
    """Shouts its text back."""

    name = "shout"
    capabilities = frozenset({"shouting"})
    cost_tier = 1
    average_latency_ms = 5.0
    input_model = ShoutInput
    output_model = ShoutOutput

    def run(self, input, ctx):
        return ArmResult(output=ShoutOutput(text=input.text.upper() + "!"))
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    (site / "shoutarm").mkdir(parents=True)
    (site / "shoutarm" / "__init__.py").write_text(ARM_MODULE)
    dist = site / "shoutarm-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shoutarm\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[octollm.arms]\nshout = shoutarm:ShoutArm\n")
    monkeypatch.syspath_prepend(str(site))
    _forget_arms()
    yield site
    monkeypatch.undo()
    _forget_arms()


def _forget_arms() -> None:
    registry._entry_point_paths.cache_clear()
    registry.get_arm.cache_clear()
    lifecycle._known_arms.cache_clear()


def test_an_entry_point_arm_runs_on_a_real_worker_and_registers_itself(
    installed: Path, tmp_path: Path
) -> None:
    assert "shout" in registry.known_arms()
    pythonpath = os.pathsep.join([str(installed), str(ROOT)])
    (tmp_path / "stack").mkdir()
    with live_stack(tmp_path / "stack", PYTHONPATH=pythonpath) as stack:
        stack.start_fleet(["orchestrator", "shout"])
        rt: Any = make_runtime(stack)
        try:
            plan = {
                "steps": [
                    {"step_id": "s", "arm": "shout", "action": "shout", "input": {"text": "hi"}}
                ]
            }
            task = lifecycle.submit(rt, TaskContract(goal="shout through a plugin", plan=plan))
            row = wait_for_task(rt, task.id, timeout=30)

            def registered() -> Any:
                with rt.db.session() as session:
                    rows = {r.name: r for r in arm_registry.all_registrations(session)}
                return rows.get("shout")

            shout = wait_until(registered, 10, "the plugin's registration")
        finally:
            rt.db.dispose()
    assert row.status == "completed", row.error
    assert row.result["steps"]["s"] == {"text": "HI!"}
    assert shout.capabilities == ["shouting"]
    assert shout.description == "Shouts its text back."
    assert shout.details["cost_tier"] == 1


def test_the_plugin_arm_example_runs_on_workers_named_by_octollm_arm_plugins(
    tmp_path: Path,
) -> None:
    """examples/plugin_arm as its docstring says to use it: named in OCTOLLM_ARM_PLUGINS."""
    plugins = "examples.plugin_arm.arms:EchoArm,examples.plugin_arm.arms:FailArm"
    with live_stack(tmp_path, OCTOLLM_ARM_PLUGINS=plugins) as stack:
        stack.start_fleet(["orchestrator", "echo", "fail"])
        rt: Any = make_runtime(stack)
        try:
            plan = {
                "steps": [
                    {"step_id": "a", "arm": "echo", "action": "say", "input": {"text": "hi"}},
                    {"step_id": "b", "arm": "echo", "action": "pass", "depends_on": ["a"]},
                ]
            }
            done = lifecycle.submit(rt, TaskContract(goal="echo through the example", plan=plan))
            failing = {"steps": [{"step_id": "f", "arm": "fail", "action": "fail", "input": {}}]}
            refused = lifecycle.submit(rt, TaskContract(goal="fail on purpose", plan=failing))
            row = wait_for_task(rt, done.id, timeout=60)
            failed = wait_for_task(rt, refused.id, timeout=60)
        finally:
            rt.db.dispose()
    assert row.status == "completed", row.error
    assert row.result["steps"]["a"]["input"]["text"] == "hi"
    assert row.result["steps"]["b"]["received"]["a"]["step"] == "a"
    assert failed.status == "failed"
    assert "always fails" in str(failed.error)
