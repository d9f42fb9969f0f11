"""Which arm answers to which name: the six built-ins plus user plugins.

A plugin is a class with ``name``, ``capabilities``, ``input_model`` and ``output_model``
(pydantic models: ``octollm.contracts.arm_io.ArmInput``/``OpenOutput`` accept any JSON
object) and ``run(input, ctx)``, named by a dotted
path ``package.module:Class`` in ``OCTOLLM_ARM_PLUGINS`` (comma-separated) or published under
the ``octollm.arms`` entry-point group. Adding an arm never means editing octollm.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from octollm.arms.base import Arm
from octollm.config import get_settings
from octollm.errors import InvalidInput

BUILTIN_ARMS: dict[str, str] = {
    "planner": "octollm.arms.planner:PlannerArm",
    "retriever": "octollm.arms.retriever:RetrieverArm",
    "coder": "octollm.arms.coder:CoderArm",
    "executor": "octollm.arms.executor:ExecutorArm",
    "judge": "octollm.arms.judge:JudgeArm",
    "guardian": "octollm.arms.guardian:GuardianArm",
}


def _load(path: str) -> Arm[Any, Any]:
    module_name, _, attr = path.partition(":")
    if not attr:
        raise InvalidInput(
            "an arm plugin must be named 'package.module:Class'", details={"plugin": path}
        )
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            "an arm plugin cannot be loaded", details={"plugin": path, "error": str(exc)}
        ) from exc
    arm = cls()
    if not isinstance(arm, Arm):
        raise InvalidInput(
            "an arm plugin lacks name, capabilities, input_model, output_model or run()",
            details={"plugin": path},
        )
    return arm


@lru_cache(maxsize=1)
def _entry_point_paths() -> tuple[tuple[str, str], ...]:
    """Installed ``octollm.arms`` entry points (scanning them is slow: done once per process)."""
    return tuple((ep.name, ep.value) for ep in entry_points(group="octollm.arms"))


@lru_cache(maxsize=8)
def _env_paths(spec: str) -> tuple[tuple[str, str], ...]:
    found = []
    for item in filter(None, (p.strip() for p in spec.split(","))):
        name = item.rpartition(":")[2].lower().removesuffix("arm") or item
        found.append((name, item))
    return tuple(found)


def plugin_paths() -> dict[str, str]:
    """Plugin arms by name, from entry points then ``Settings.arm_plugins`` (which wins)."""
    return {
        **dict(_entry_point_paths()),
        **dict(_env_paths(get_settings().arm_plugins)),
    }


def arm_paths() -> dict[str, str]:
    return {**BUILTIN_ARMS, **plugin_paths()}


def known_arms() -> frozenset[str]:
    return frozenset(arm_paths())


@lru_cache(maxsize=64)
def get_arm(name: str) -> Arm[Any, Any]:
    paths = arm_paths()
    if name not in paths:
        raise InvalidInput(
            f"unknown arm {name!r}", details={"arm": name, "known_arms": sorted(paths)}
        )
    return _load(paths[name])
