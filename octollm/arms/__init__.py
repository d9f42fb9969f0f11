"""Arms: pure logic behind ``run(input, ctx) -> ArmResult``; no I/O frameworks imported."""

from octollm.arms.base import Arm, ArmContext, ArmResult, ChatLLM, ChatResult

__all__ = ["Arm", "ArmContext", "ArmResult", "ChatLLM", "ChatResult"]
