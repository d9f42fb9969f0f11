"""Settings for the arm registry: heartbeats of the pools and the health rules.

Mounted on ``Settings`` as ``registry``: ``OCTOLLM_REGISTRY__HEARTBEAT_SECONDS``, ...
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class RegistrySettings(BaseModel):
    heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="How often a pool refreshes its arms' heartbeat."
    )
    stale_after_heartbeats: float = Field(
        default=2.0,
        gt=1,
        description="A heartbeat older than this many intervals makes the arm degraded.",
    )
    expire_after_heartbeats: float = Field(
        default=4.0,
        gt=1,
        description="A heartbeat older than this many intervals is gone: the arm is "
        "unavailable when no pool of it has a fresher one.",
    )
    stats_window_seconds: int = Field(
        default=600, ge=60, description="Window of step outcomes behind the recent success rate."
    )
    min_outcomes: int = Field(
        default=5, ge=1, description="Outcomes needed before the recent success rate counts."
    )
    degraded_below: float = Field(
        default=0.8, ge=0, le=1, description="Recent success rate under which an arm is degraded."
    )
