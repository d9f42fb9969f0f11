"""What an arm announces to the registry (OctoLLM's ArmCapability, component-contracts form).

A pool registers one ``ArmCapability`` per arm it serves when its worker starts, then keeps a
heartbeat; the registry derives each arm's ``ArmHealth`` from the heartbeats and the arm's
recent step outcomes (``orchestrator.arm_directory``), and routing scores the registered arms
(``orchestrator.arm_routing``).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ArmHealth(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNAVAILABLE = "unavailable"


class ArmCapability(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    arm: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="The arm's registry name.")
    description: str = Field(default="", max_length=500)
    capabilities: list[str] = Field(min_length=1, max_length=64)
    cost_tier: int = Field(ge=1, le=5, description="1: no LLM ... 5: frontier model.")
    average_latency_ms: float = Field(gt=0)
    success_rate: float = Field(ge=0, le=1, description="Declared; routing prefers observed.")
    max_concurrent_tasks: int = Field(default=10, ge=1)
    version: str = Field(default="1.0.0", max_length=32)
