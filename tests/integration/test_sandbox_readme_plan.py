"""The README's explicit-plan example, parsed out of README.md, runs as written on real workers:
its executor step (no ``language``, depending on the coder step) runs the coder's code in the
sandbox and succeeds. The coder's model is the scripted one (an HTTP boundary)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.cli.run import build_contract
from octollm.orchestrator.engine import lifecycle
from octollm.store import steps as step_repo
from tests.support.fake_llm import FakeLLM
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture
from tests.support.stack import ROOT, LiveStack, live_stack, make_runtime, wait_for_task

pytestmark = pytest.mark.timeout(180)
CODE = """```python
def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))

if __name__ == "__main__":
    for n in (2, 15, 17):
        print(n, is_prime(n))
```"""


def readme_plan() -> dict[str, Any]:
    """The JSON block under '## Explicit plans' in README.md."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Explicit plans", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None, "README.md has no JSON block under '## Explicit plans'"
    plan: dict[str, Any] = json.loads(block.group(1))
    return plan


@pytest.fixture
def llm_stack(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[LiveStack]:
    env = {"OCTOLLM_LLM__BASE_URL": fake_llm.base_url, "OCTOLLM_MEMORY__CODER_MEMORY": "false"}
    with live_stack(tmp_path, **env) as stack:
        yield stack


def test_the_readme_explicit_plan_runs_as_written_and_its_executor_step_succeeds(
    llm_stack: LiveStack, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(lambda request: CODE)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(readme_plan()))
    contract = build_contract(None, plan_file, "medium")  # what `octollm run --plan` does
    llm_stack.start_fleet(["orchestrator", "coder", "judge"])
    llm_stack.start_worker(["executor"], pool="prefork", concurrency=1)
    rt = make_runtime(llm_stack)
    try:
        task = lifecycle.submit(rt, contract)
        row = wait_for_task(rt, task.id, timeout=150)
        with rt.db.session() as session:
            steps = {s.step_id: s for s in step_repo.for_task(session, task.id)}
            run, _ = step_repo.results(session, task.id, ["run"])["run"]
    finally:
        rt.db.dispose()
    assert steps["run"].status == "succeeded", steps["run"].error
    assert run["language"] == "python"
    assert run["stdout"].splitlines() == ["2 True", "15 False", "17 True"]
    assert row.status == "completed", row.error
