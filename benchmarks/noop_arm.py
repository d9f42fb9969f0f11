"""The octollm side's arm: does nothing (loaded with ``OCTOLLM_ARM_PLUGINS``)."""

from __future__ import annotations

from typing import Any

from octollm.arms.base import ArmContext, ArmResult


class NoopArm:
    name = "noop"
    capabilities = frozenset({"noop"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult:
        return ArmResult(output={"ok": True})
