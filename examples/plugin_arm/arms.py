"""Plugin arms: arms that live outside octollm and are loaded by the workers by name.

A plugin arm is a class with a ``name``, its ``capabilities`` and a ``run(input, ctx)`` that
returns an ``ArmResult``. Name it in ``OCTOLLM_ARM_PLUGINS`` (``module:Class``, comma-separated)
and start a worker for its queue; the orchestrator then routes plan steps whose ``arm`` is that
name to it::

    OCTOLLM_ARM_PLUGINS=examples.plugin_arm.arms:EchoArm \\
        celery -A octollm.worker.app worker -Q octollm.echo.medium

The arms below are the ones octollm's own test suite runs on real workers (tests/support/arms.py
names them all in ``PLUGINS``): their work is trivial or scripted so that a test can reason
about retries, crashes, swarms and budgets. tests/integration/test_plugin_entry_point.py runs
this example as a user would.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from octollm.arms.base import ArmContext, ArmResult
from octollm.errors import PermanentError, TransientError

#: Every arm in this module, as ``OCTOLLM_ARM_PLUGINS`` names them.
PLUGINS = ",".join(
    f"examples.plugin_arm.arms:{name}"
    for name in (
        "NoopArm",
        "EchoArm",
        "SleepArm",
        "FlakyArm",
        "PoisonArm",
        "FailArm",
        "VoteArm",
        "ChatterArm",
        "EffectArm",
    )
)


def tally(path: str | None, line: str) -> None:
    """Append one line to a counter file (each invocation of an arm that was given one)."""
    if path:
        with Path(path).open("a") as f:
            f.write(line + "\n")


def tallied(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


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
        tally(input.get("tally"), ctx.step_id)
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
    """Raises a transient error until a marker file says the cause is fixed (or N calls).

    Each call appends ``<time> <attempt>`` to ``counter_file``."""

    name = "flaky"
    capabilities = frozenset({"flaky"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        counter = Path(input["counter_file"])
        tally(str(counter), f"{time.time():.6f} {ctx.attempt}")
        calls = len(tallied(counter))
        fixed = input.get("fixed_file") and Path(input["fixed_file"]).exists()
        if not fixed and calls <= int(input.get("fail_times", 10**9)):
            raise TransientError(f"flaky failure #{calls}")
        return ArmResult(output={"calls": calls})


class PoisonArm:
    """Kills its own worker process: the step that never finishes."""

    name = "poison"
    capabilities = frozenset({"poison"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        tally(input.get("counter_file"), f"{time.time():.6f} {ctx.attempt}")
        os.kill(os.getpid(), 9)
        raise AssertionError("unreachable")


class FailArm:
    name = "fail"
    capabilities = frozenset({"fail"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        raise PermanentError(str(input.get("message", "this step always fails")))


class VoteArm:
    """A swarm variant: answers ``answers[seed]`` with confidence ``confidences[seed]``;
    fails (permanently) when its seed is in ``fail_seeds``."""

    name = "vote"
    capabilities = frozenset({"vote"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        seed = int(input.get("seed", 0))
        if seed in input.get("fail_seeds", []):
            raise PermanentError(f"variant {seed} has no answer")
        answers = input.get("answers", ["yes"])
        confidences = input.get("confidences", [1.0])
        return ArmResult(
            output={
                "answer": answers[seed % len(answers)],
                "temperature": input.get("temperature"),
            },
            confidence=float(confidences[seed % len(confidences)]),
        )


class ChatterArm:
    """Calls ``ctx.llm`` ``calls`` times with ``prompt`` (budget tests)."""

    name = "chatter"
    capabilities = frozenset({"chatter"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        replies = []
        for _ in range(int(input.get("calls", 1))):
            result = ctx.llm.chat(
                [{"role": "user", "content": str(input.get("prompt", "hello"))}],
                max_tokens=input.get("max_tokens"),
            )
            replies.append(result.text)
        return ArmResult(output={"replies": replies})


class EffectArm:
    """Applies an external effect (a POST to ``input["url"]`` carrying ``Idempotency-Key:
    ctx.idempotency_key``), then keeps working for ``input["then"]`` seconds before it returns:
    a window in which the effect is done but not yet recorded. Each call is tallied."""

    name = "effect"
    capabilities = frozenset({"effect"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        import urllib.request

        tally(input.get("tally"), f"{ctx.attempt} {ctx.idempotency_key}")
        request = urllib.request.Request(  # noqa: S310 - a loopback test receiver
            str(input["url"]),
            data=b"{}",
            headers={"Idempotency-Key": ctx.idempotency_key, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback test
            reply.read()
        deadline = time.time() + float(input.get("then", 0))
        while time.time() < deadline:
            time.sleep(0.05)
        return ArmResult(output={"applied": ctx.idempotency_key})
