"""What a step may do: the scopes and constraints its capability token grants (pure).

The orchestrator decides from the step as planned (its arm and input), never from what the arm
asks for at run time. Scopes follow OctoLLM's capability-isolation actions; constraints are the
ones an arm enforces itself (the executor's ``allowed_commands``, ``max_duration``, ``network``)::

    every step   step:run, arm:<arm>
    planner      llm:chat, plan:generate                         {max_steps: 7}
    coder        llm:chat, memory:read|write:coder_memory,       {languages: [<language>]}
                 memory:write:handoff, arm:call:judge
    executor     sandbox:execute                                 {allowed_commands, max_duration,
                                                                  network: false}
    retriever    vector_search, memory:read|write:knowledge_base
    judge        llm:chat, validate_output, memory:read:handoff
    guardian     pii_detect, safety_check
    other arms   (plugins) step:run and arm:<arm> only
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: The executor's own ceiling on one run (``octollm.arms.executor.MAX_TIMEOUT_SECONDS``).
EXECUTOR_MAX_SECONDS = 300.0

_SCOPES: dict[str, tuple[str, ...]] = {
    "planner": ("llm:chat", "plan:generate"),
    "coder": (
        "llm:chat",
        "memory:read:coder_memory",
        "memory:write:coder_memory",
        "memory:write:handoff",
        "arm:call:judge",
    ),
    "executor": ("sandbox:execute",),
    "retriever": ("vector_search", "memory:read:knowledge_base", "memory:write:knowledge_base"),
    "judge": ("llm:chat", "validate_output", "memory:read:handoff"),
    "guardian": ("pii_detect", "safety_check"),
}


@dataclass(frozen=True)
class Grant:
    scopes: tuple[str, ...]
    constraints: dict[str, Any] = field(default_factory=dict)


def grant_for(arm: str, step_input: Mapping[str, Any], *, step_time_limit: float) -> Grant:
    scopes = ("step:run", f"arm:{arm}", *_SCOPES.get(arm, ()))
    constraints: dict[str, Any] = {}
    if arm == "planner":
        constraints = {"max_steps": 7}
    elif arm == "coder":
        constraints = {"languages": [str(step_input.get("language") or "python").lower()]}
    elif arm == "executor":
        constraints = executor_constraints(step_input, step_time_limit)
    return Grant(scopes, constraints)


def executor_constraints(step_input: Mapping[str, Any], step_time_limit: float) -> dict[str, Any]:
    """The one command the step names (``python`` for code), its time, and no network."""
    language = step_input.get("language", "python")
    commands: list[str] = []
    if language == "shell":
        line = step_input.get("command", step_input.get("code"))
        try:
            argv = shlex.split(line) if isinstance(line, str) else []
        except ValueError:
            argv = []
        commands = argv[:1]
    elif language == "python":
        commands = ["python"]
    timeout = step_input.get("timeout_seconds", EXECUTOR_MAX_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        timeout = EXECUTOR_MAX_SECONDS
    return {
        "allowed_commands": commands,
        "max_duration": float(min(timeout, EXECUTOR_MAX_SECONDS, step_time_limit)),
        "network": False,
    }
