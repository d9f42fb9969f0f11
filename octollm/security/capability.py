"""Capability tokens: the short-lived JWT the orchestrator issues for each step delivery.

OctoLLM's capability-isolation design (HS256, the orchestrator the sole issuer, ``jti``
required, minutes of life), with PyJWT and the algorithm pinned on both sides::

    iss  "octollm-orchestrator"          aud  the arm that may act (the step row's arm)
    sub  "<task_id>/<step_id>"           gen  the step's generation (a re-drive re-issues)
    iat, exp                             jti  unique; consumed by the claim it authorises
    scope        ["step:run", "arm:coder", "llm:chat", ...]
    constraints  {"allowed_commands": ["python"], "max_duration": 300, "network": false}

``CapabilityAuthority.verify`` checks signature, algorithm, issuer, expiry, audience and that
the token names this very message's step and generation; every failure is a ``TokenRefused``
whose ``kind`` names it (missing, malformed, bad_signature, expired, wrong_audience,
wrong_subject). Replay (``replayed``) needs shared state: ``ReplayGuard`` keeps each consumed
``jti`` in Redis (``SET NX`` with the token's remaining lifetime as TTL) — when a ``jti`` may
count as consumed is the orchestrator's decision (``orchestrator.admission``).

The key: ``CapabilitySettings.secret`` (shared by every process that publishes or runs steps),
or, unset, ``<data_dir>/capability.key``, created once (0600, ``O_EXCL`` so that processes
starting together agree) — enough for the embedded default and a single machine.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import redis

from octollm.config.capability import CapabilitySettings
from octollm.errors import Forbidden, InvalidInput, StorageUnavailable

ISSUER = "octollm-orchestrator"
ALGORITHM = "HS256"
#: The Celery message header that carries a step's token.
TOKEN_HEADER = "octollm_capability"  # noqa: S105 - a header name, not a secret
KEY_FILE = "capability.key"
MIN_KEY_BYTES = 32
_REQUIRED = ["iss", "aud", "sub", "exp", "iat", "jti"]


class TokenRefused(Forbidden):
    """A capability token that does not authorise this delivery. ``kind`` says why."""

    code = "CAPABILITY_REFUSED"

    def __init__(self, kind: str, message: str, **details: Any) -> None:
        super().__init__(message, details={"kind": kind, **details})
        self.kind = kind


@dataclass(frozen=True)
class Capability:
    """A verified token: what one delivery of one step may do."""

    arm: str
    task_id: str
    step_id: str
    generation: int
    jti: str
    issued_at: float
    expires_at: float
    scopes: tuple[str, ...] = ()
    constraints: Mapping[str, Any] = field(default_factory=dict)

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def seconds_left(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


def load_key(settings: CapabilitySettings, data_dir: Path) -> bytes:
    """The signing key: the configured secret, or the data directory's generated one."""
    if settings.secret is not None:
        key = settings.secret.get_secret_value().encode()
        if len(key) < MIN_KEY_BYTES:
            raise InvalidInput(
                f"OCTOLLM_CAPABILITY__SECRET must be at least {MIN_KEY_BYTES} bytes long",
                details={
                    "setting": "capability.secret",
                    "env": "OCTOLLM_CAPABILITY__SECRET",
                    "min_bytes": MIN_KEY_BYTES,
                },
            )
        return key
    path = data_dir / KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _wait_for_key(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48))
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise FileNotFoundError(path)  # being written right now
    return key


def _wait_for_key(path: Path, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _read_key(path)
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise InvalidInput(
                    f"{path} holds no usable capability key", details={"path": str(path)}
                ) from None
            time.sleep(0.02)


class CapabilityAuthority:
    """Issues and verifies tokens with one key (every orchestrator process holds it)."""

    def __init__(self, key: bytes, *, leeway_seconds: float = 5.0) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise InvalidInput(
                f"a capability key needs at least {MIN_KEY_BYTES} bytes",
                details={"min_bytes": MIN_KEY_BYTES},
            )
        self._key = key
        self.leeway = leeway_seconds

    def issue(
        self,
        *,
        arm: str,
        task_id: str,
        step_id: str,
        generation: int,
        expires_at: float,
        scopes: Sequence[str] = (),
        constraints: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        issued = time.time() if now is None else now
        claims = {
            "iss": ISSUER,
            "aud": arm,
            "sub": f"{task_id}/{step_id}",
            "gen": int(generation),
            "iat": int(issued),
            "exp": int(expires_at),
            "jti": uuid.uuid4().hex,
            "scope": list(scopes),
            "constraints": dict(constraints or {}),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(
        self,
        token: str | None,
        *,
        audience: str,
        task_id: str,
        step_id: str,
        generation: int,
    ) -> Capability:
        if not token:
            raise TokenRefused("missing", "the message carries no capability token")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=ISSUER,
                leeway=self.leeway,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused("expired", f"the capability token expired ({exc})") from exc
        except jwt.InvalidAudienceError as exc:
            claimed = _unverified(token).get("aud")
            raise TokenRefused(
                "wrong_audience",
                f"the capability token is for {claimed!r}, not for the {audience} arm",
                token_audience=claimed,
            ) from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRefused(
                "bad_signature", "the capability token's signature is wrong"
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRefused("malformed", f"the capability token is invalid: {exc}") from exc
        subject = f"{task_id}/{step_id}"
        if claims.get("sub") != subject or claims.get("gen") != int(generation):
            raise TokenRefused(
                "wrong_subject",
                f"the capability token is for {claims.get('sub')!r} generation "
                f"{claims.get('gen')!r}, not for {subject!r} generation {generation}",
                token_subject=claims.get("sub"),
            )
        scopes = claims.get("scope") or []
        constraints = claims.get("constraints") or {}
        if not isinstance(scopes, list) or not isinstance(constraints, dict):
            raise TokenRefused("malformed", "the capability token's scope or constraints are bad")
        return Capability(
            arm=audience,
            task_id=task_id,
            step_id=step_id,
            generation=int(generation),
            jti=str(claims["jti"]),
            issued_at=float(claims["iat"]),
            expires_at=float(claims["exp"]),
            scopes=tuple(str(s) for s in scopes),
            constraints=constraints,
        )


def _unverified(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, options={"verify_signature": False}, algorithms=[ALGORITHM]
        )
    except jwt.InvalidTokenError:
        return {}
    return claims


def token_id(token: str | None) -> str | None:
    """The ``jti`` of a token, unverified (for the record of a refusal)."""
    if not token:
        return None
    jti = _unverified(token).get("jti")
    return str(jti)[:64] if jti is not None else None


class ReplayGuard:
    """Consumed token ids in Redis: ``octollm:capability:jti:<jti>`` -> who consumed it."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @staticmethod
    def key(jti: str) -> str:
        return f"octollm:capability:jti:{jti}"

    def consumed_by(self, jti: str) -> str | None:
        try:
            raw = self._redis.get(self.key(jti))
        except redis.RedisError as exc:
            raise StorageUnavailable(
                f"cannot check the token's replay record: {exc}",
                details={"service": "redis", "error": type(exc).__name__},
            ) from exc
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def consume(self, jti: str, holder: str, ttl_seconds: float) -> bool:
        """Mark ``jti`` consumed by ``holder``; False when it already was."""
        try:
            done = self._redis.set(self.key(jti), holder, nx=True, ex=max(1, int(ttl_seconds) + 1))
        except redis.RedisError as exc:
            raise StorageUnavailable(f"cannot record the token's use: {exc}") from exc
        return bool(done)
