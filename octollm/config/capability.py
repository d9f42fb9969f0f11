"""Settings for capability tokens: the per-step JWTs the orchestrator issues to arms.

Mounted on ``Settings`` as ``capability``: ``OCTOLLM_CAPABILITY__SECRET`` (every process that
publishes or runs steps must share it; unset, a key is generated into ``<data_dir>`` on first
use, which suits the embedded default and one machine).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class CapabilitySettings(BaseModel):
    secret: SecretStr | None = Field(
        default=None,
        description="HS256 signing key shared by the orchestrator's processes (at least 32 "
        "bytes). Unset: <data_dir>/capability.key, generated on first use.",
    )
    max_ttl_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Longest token lifetime; a token also expires with its task's deadline.",
    )
    min_ttl_seconds: float = Field(
        default=60.0, gt=0, description="Shortest lifetime, even for a task near its deadline."
    )
    leeway_seconds: float = Field(
        default=5.0, ge=0, description="Clock skew tolerated between issuing and verifying hosts."
    )
    required: bool = Field(
        default=True,
        description="Refuse step messages without a token. False only while rolling out "
        "tokens to a fleet whose queues still hold token-less messages.",
    )
