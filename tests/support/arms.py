"""The plugin arms the tests run on real workers (loaded via ``OCTOLLM_ARM_PLUGINS``).

They live in ``examples/plugin_arm`` (the example of a plugin arm a user writes); this module
names them for the tests and benchmarks, which import ``PLUGINS``, ``tally`` and ``tallied``
from here.
"""

from __future__ import annotations

from examples.plugin_arm.arms import (
    PLUGINS,
    ChatterArm,
    EchoArm,
    EffectArm,
    FailArm,
    FlakyArm,
    MiscountArm,
    NoopArm,
    PoisonArm,
    SleepArm,
    VoteArm,
    tallied,
    tally,
)

__all__ = [
    "PLUGINS",
    "ChatterArm",
    "EchoArm",
    "EffectArm",
    "FailArm",
    "FlakyArm",
    "MiscountArm",
    "NoopArm",
    "PoisonArm",
    "SleepArm",
    "VoteArm",
    "tallied",
    "tally",
]
