"""Plugin arms: arms that live outside octollm and are loaded by the workers by name.

A plugin arm is a class with a ``name``, its ``capabilities``, its ``input_model`` and
``output_model`` (pydantic models; ``ArmInput`` / ``ArmOutput`` from
``octollm.contracts.arm_io`` are the bases) and a ``run(input, ctx)`` that returns an
``ArmResult`` of its output model. Name it in ``OCTOLLM_ARM_PLUGINS`` (``module:Class``,
comma-separated) and start a worker for its queue; the orchestrator then routes plan steps whose
``arm`` is that name to it, validating the step's input before ``run`` and the output after::

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

from pydantic import Field

from octollm.arms.base import ArmContext, ArmResult
from octollm.contracts.arm_io import ArmInput, ArmOutput, OpenOutput
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
        "MiscountArm",
    )
)


def tally(path: str | None, line: str) -> None:
    """Append one line to a counter file (each invocation of an arm that was given one)."""
    if path:
        with Path(path).open("a") as f:
            f.write(line + "\n")


def tallied(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


class NoopOutput(ArmOutput):
    ok: bool


class NoopArm:
    name = "noop"
    capabilities = frozenset({"noop"})
    input_model = ArmInput
    output_model = NoopOutput

    def run(self, input: ArmInput, ctx: ArmContext) -> ArmResult[NoopOutput]:
        return ArmResult(output=NoopOutput(ok=True))


class EchoInput(ArmInput):
    tally: str | None = None
    sleep: float = Field(default=0, ge=0)


class EchoOutput(ArmOutput):
    step: str
    input: dict[str, Any]
    received: dict[str, Any]
    start: float
    end: float
    pid: int


class EchoArm:
    """Returns its input and the outputs it received, with wall-clock timestamps."""

    name = "echo"
    capabilities = frozenset({"echo"})
    input_model = EchoInput
    output_model = EchoOutput

    def run(self, input: EchoInput, ctx: ArmContext) -> ArmResult[EchoOutput]:
        start = time.time()
        tally(input.tally, ctx.step_id)
        time.sleep(input.sleep)
        output = EchoOutput(
            step=ctx.step_id,
            input=input.model_dump(mode="json", exclude_unset=True),
            received=ctx.dependencies,
            start=start,
            end=time.time(),
            pid=os.getpid(),
        )
        return ArmResult(output=output)


class SleepInput(ArmInput):
    seconds: float = Field(default=1, ge=0)


class SleepOutput(ArmOutput):
    slept: float


class SleepArm:
    name = "sleep"
    capabilities = frozenset({"sleep"})
    input_model = SleepInput
    output_model = SleepOutput

    def run(self, input: SleepInput, ctx: ArmContext) -> ArmResult[SleepOutput]:
        deadline = time.time() + input.seconds
        while time.time() < deadline:
            ctx.check_cancelled()
            time.sleep(0.05)
        return ArmResult(output=SleepOutput(slept=input.seconds))


class FlakyInput(ArmInput):
    counter_file: str
    fixed_file: str | None = None
    fail_times: int = 10**9
    sleep: float = 0.0


class CallsOutput(ArmOutput):
    calls: int


class FlakyArm:
    """Raises a transient error until a marker file says the cause is fixed (or N calls).

    Each call appends ``<time> <attempt>`` to ``counter_file``."""

    name = "flaky"
    capabilities = frozenset({"flaky"})
    input_model = FlakyInput
    output_model = CallsOutput

    def run(self, input: FlakyInput, ctx: ArmContext) -> ArmResult[CallsOutput]:
        counter = Path(input.counter_file)
        tally(str(counter), f"{time.time():.6f} {ctx.attempt}")
        calls = len(tallied(counter))
        time.sleep(input.sleep)
        fixed = input.fixed_file is not None and Path(input.fixed_file).exists()
        if not fixed and calls <= input.fail_times:
            raise TransientError("flaky failure", details={"call": calls})
        return ArmResult(output=CallsOutput(calls=calls))


class MiscountArm:
    """Promises ``{"calls": int}`` and returns something else: an output its model refuses."""

    name = "miscount"
    capabilities = frozenset({"miscount"})
    input_model = ArmInput
    output_model = CallsOutput

    def run(self, input: ArmInput, ctx: ArmContext) -> ArmResult[OpenOutput]:
        return ArmResult(output=OpenOutput.model_validate({"calls": "many", "extra": True}))


class PoisonInput(ArmInput):
    counter_file: str | None = None


class PoisonArm:
    """Kills its own worker process: the step that never finishes."""

    name = "poison"
    capabilities = frozenset({"poison"})
    input_model = PoisonInput
    output_model = OpenOutput

    def run(self, input: PoisonInput, ctx: ArmContext) -> ArmResult[OpenOutput]:
        tally(input.counter_file, f"{time.time():.6f} {ctx.attempt}")
        os.kill(os.getpid(), 9)
        raise AssertionError("unreachable")


class FailInput(ArmInput):
    message: str = "this step always fails"
    tally: str | None = None
    sleep: float = 0.0


class FailArm:
    """Fails permanently (after ``sleep`` seconds; each call tallied in ``tally``)."""

    name = "fail"
    capabilities = frozenset({"fail"})
    input_model = FailInput
    output_model = OpenOutput

    def run(self, input: FailInput, ctx: ArmContext) -> ArmResult[OpenOutput]:
        tally(input.tally, f"{ctx.step_id} {ctx.attempt}")
        time.sleep(input.sleep)
        raise PermanentError(input.message)


class VoteInput(ArmInput):
    seed: int = 0
    fail_seeds: list[int] = Field(default_factory=list)
    answers: list[Any] = Field(default_factory=lambda: ["yes"], min_length=1)
    confidences: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    temperature: float | None = None


class VoteOutput(ArmOutput):
    answer: Any
    temperature: float | None


class VoteArm:
    """A swarm variant: answers ``answers[seed]`` with confidence ``confidences[seed]``;
    fails (permanently) when its seed is in ``fail_seeds``."""

    name = "vote"
    capabilities = frozenset({"vote"})
    input_model = VoteInput
    output_model = VoteOutput

    def run(self, input: VoteInput, ctx: ArmContext) -> ArmResult[VoteOutput]:
        seed = input.seed
        if seed in input.fail_seeds:
            raise PermanentError("the variant has no answer", details={"seed": seed})
        answers, confidences = input.answers, input.confidences
        return ArmResult(
            output=VoteOutput(answer=answers[seed % len(answers)], temperature=input.temperature),
            confidence=confidences[seed % len(confidences)],
        )


class ChatterInput(ArmInput):
    calls: int = Field(default=1, ge=0)
    prompt: str = "hello"
    max_tokens: int | None = None


class ChatterOutput(ArmOutput):
    replies: list[str]


class ChatterArm:
    """Calls ``ctx.llm`` ``calls`` times with ``prompt`` (budget tests)."""

    name = "chatter"
    capabilities = frozenset({"chatter"})
    input_model = ChatterInput
    output_model = ChatterOutput

    def run(self, input: ChatterInput, ctx: ArmContext) -> ArmResult[ChatterOutput]:
        replies = []
        for _ in range(input.calls):
            result = ctx.llm.chat(
                [{"role": "user", "content": input.prompt}], max_tokens=input.max_tokens
            )
            replies.append(result.text)
        return ArmResult(output=ChatterOutput(replies=replies))


class EffectInput(ArmInput):
    url: str
    tally: str | None = None
    then: float = Field(default=0, ge=0)


class EffectOutput(ArmOutput):
    applied: str


class EffectArm:
    """Applies an external effect (a POST to ``input["url"]`` carrying ``Idempotency-Key:
    ctx.idempotency_key``), then keeps working for ``input["then"]`` seconds before it returns:
    a window in which the effect is done but not yet recorded. Each call is tallied."""

    name = "effect"
    capabilities = frozenset({"effect"})
    input_model = EffectInput
    output_model = EffectOutput

    def run(self, input: EffectInput, ctx: ArmContext) -> ArmResult[EffectOutput]:
        import urllib.request

        tally(input.tally, f"{ctx.attempt} {ctx.idempotency_key}")
        request = urllib.request.Request(  # noqa: S310 - a loopback test receiver
            input.url,
            data=b"{}",
            headers={"Idempotency-Key": ctx.idempotency_key, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback test
            reply.read()
        deadline = time.time() + input.then
        while time.time() < deadline:
            time.sleep(0.05)
        return ArmResult(output=EffectOutput(applied=ctx.idempotency_key))
