"""Collaborators each arm receives through ``ctx.services``, built lazily once per process."""

from __future__ import annotations

from typing import Any

from octollm.arms.registry import known_arms
from octollm.orchestrator.runtime import Runtime


def services_for(arm: str, rt: Runtime) -> dict[str, Any]:
    services: dict[str, Any] = {"arms": sorted(known_arms())}
    return services
