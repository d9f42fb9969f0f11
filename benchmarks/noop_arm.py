"""The octollm side's arm: does nothing (loaded with ``OCTOLLM_ARM_PLUGINS``). It is the
example plugin's ``NoopArm``, named here so the benchmark's plugin path stays short."""

from __future__ import annotations

from examples.plugin_arm.arms import NoopArm

__all__ = ["NoopArm"]
