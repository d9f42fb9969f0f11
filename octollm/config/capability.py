"""Settings for capability tokens: the per-step JWTs the orchestrator issues to arms.

Mounted on ``Settings`` as ``capability``. Tokens are signed with Ed25519: publishers (API,
orchestrator pool, beat, webhooks pool) read the private keyring ``OCTOLLM_CAPABILITY__KEYS_FILE``,
arm workers only the public one, ``OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE`` (both made by
``octollm keys capability``). Neither set: a keyring is generated into ``<data_dir>`` on first
use, which suits the embedded default and one machine.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator


class CapabilitySettings(BaseModel):
    keys_file: Path | None = Field(
        default=None,
        description="Private keyring (JWK set of Ed25519 keys, newest first) of the processes "
        "that mint tokens: API, orchestrator pool, beat, webhooks pool. Unset (and no "
        "public_keys_file): <data_dir>/capability.jwks, generated on first use (one host only).",
    )
    public_keys_file: Path | None = Field(
        default=None,
        description="Public keyring (`octollm keys capability export-public`) of processes that "
        "only verify tokens: the arm workers.",
    )
    secret: SecretStr | None = Field(
        default=None,
        description="Removed (HS256 let every worker mint tokens): set keys_file or "
        "public_keys_file instead.",
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

    @field_validator("secret")
    @classmethod
    def _no_shared_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raise ValueError(
                "OCTOLLM_CAPABILITY__SECRET is no longer used: capability tokens are signed with "
                "Ed25519; make a keyring with `octollm keys capability rotate` and set "
                "OCTOLLM_CAPABILITY__KEYS_FILE (publishers) / PUBLIC_KEYS_FILE (arm workers)"
            )
        return value
