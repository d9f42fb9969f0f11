"""Plugin arms for tests and benchmarks (loaded via ``OCTOLLM_ARM_PLUGINS``).

They are real arms run by real workers; only their work is trivial or scripted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from octollm.arms.base import ArmContext, ArmResult
from octollm.errors import PermanentError, TransientError

PLUGINS = ",".join(
    f"tests.support.arms:{name}"
    for name in ("NoopArm", "EchoArm", "SleepArm", "FlakyArm", "PoisonArm", "FailArm")
)


class NoopArm:
    name = "noop"
    capabilities = frozenset({"noop"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        return ArmResult(output={"ok": True})


class EchoArm:
    """Returns its input and the outputs it received, with wall-clock timestamps."""

    name = "echo"
    capabilities = frozenset({"echo"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        start = time.time()
        time.sleep(float(input.get("sleep", 0)))
        return ArmResult(
            output={
                "step": ctx.step_id,
                "input": input,
                "received": ctx.dependencies,
                "start": start,
                "end": time.time(),
                "pid": os.getpid(),
            }
        )


class SleepArm:
    name = "sleep"
    capabilities = frozenset({"sleep"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        deadline = time.time() + float(input.get("seconds", 1))
        while time.time() < deadline:
            ctx.check_cancelled()
            time.sleep(0.05)
        return ArmResult(output={"slept": input.get("seconds", 1)})


class FlakyArm:
    """Raises a transient error until a marker file says the cause is fixed (or N calls)."""

    name = "flaky"
    capabilities = frozenset({"flaky"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        counter = Path(input["counter_file"])
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        fixed = input.get("fixed_file") and Path(input["fixed_file"]).exists()
        if not fixed and calls <= int(input.get("fail_times", 10**9)):
            raise TransientError(f"flaky failure #{calls}")
        return ArmResult(output={"calls": calls})


class PoisonArm:
    """Kills its own worker process: the step that never finishes."""

    name = "poison"
    capabilities = frozenset({"poison"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        marker = input.get("counter_file")
        if marker:
            p = Path(marker)
            p.write_text(str(int(p.read_text()) + 1 if p.exists() else 1))
        os.kill(os.getpid(), 9)
        raise AssertionError("unreachable")


class FailArm:
    name = "fail"
    capabilities = frozenset({"fail"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        raise PermanentError(str(input.get("message", "this step always fails")))
