"""The octollm side's arm: does nothing (loaded with ``OCTOLLM_ARM_PLUGINS``)."""

from __future__ import annotations

from octollm.arms.base import ArmContext, ArmResult
from octollm.contracts.arm_io import ArmInput, ArmOutput


class NoopOutput(ArmOutput):
    ok: bool


class NoopArm:
    name = "noop"
    capabilities = frozenset({"noop"})
    input_model = ArmInput
    output_model = NoopOutput

    def run(self, input: ArmInput, ctx: ArmContext) -> ArmResult[NoopOutput]:
        return ArmResult(output=NoopOutput(ok=True))
