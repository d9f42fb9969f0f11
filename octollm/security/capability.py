"""Capability tokens: the short-lived JWT the orchestrator issues for each step delivery.

OctoLLM's capability-isolation design (the orchestrator the sole issuer, ``jti`` required,
minutes of life), with PyJWT, signed with Ed25519 (``EdDSA``, pinned on both sides) under a key
id (``kid`` in the header) so that only the publishers hold the private key::

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

The keys: a ``Keyring`` (``security.keyring``): publishers hold the private keyring, arm
workers the public one. A token whose ``kid`` this process does not know is refused as
``unknown_key`` with the fix in its message; a process without a private key cannot ``issue``
(``KeyringError``, naming the setting).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
import redis

from octollm.errors import Forbidden, StorageUnavailable
from octollm.security.keyring import Keyring, KeyringError

ISSUER = "octollm-orchestrator"
ALGORITHM = "EdDSA"
#: The Celery message header that carries a step's token.
TOKEN_HEADER = "octollm_capability"  # noqa: S105 - a header name, not a secret
#: What an operator does when a process lacks the publishers' keys (one line, in refusals).
FIX = (
    "fix: on a publisher host run `octollm keys capability export-public -o capability.pub.jwks`"
    ", copy the file here and set OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE to it "
    "(publishers: OCTOLLM_CAPABILITY__KEYS_FILE; see docs/deployment.md)"
)
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


class CapabilityAuthority:
    """Issues (with the keyring's current private key) and verifies (with any of its public
    keys, chosen by the token's ``kid``) capability tokens."""

    def __init__(self, keyring: Keyring, *, leeway_seconds: float = 5.0) -> None:
        self.keyring = keyring
        self.leeway = leeway_seconds

    @property
    def can_issue(self) -> bool:
        return self.keyring.signing is not None

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
        if self.keyring.signing is None:
            raise KeyringError(
                f"this process holds only public capability keys ({self.keyring.source}) and "
                "cannot mint tokens: publishers need OCTOLLM_CAPABILITY__KEYS_FILE"
            )
        kid, key = self.keyring.signing
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})

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
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise TokenRefused("malformed", f"the capability token is invalid: {exc}") from exc
        if not isinstance(kid, str):
            raise TokenRefused("malformed", "the capability token names no key id (kid)")
        public = self.keyring.verifying.get(kid)
        if public is None:
            known = ", ".join(self.keyring.kids) or "none"
            raise TokenRefused(
                "unknown_key",
                f"the capability token is signed with key {kid[:64]!r}, which this process does "
                f"not know (it knows {known} from {self.keyring.source}); {FIX}",
                token_kid=kid[:64],
            )
        try:
            claims = jwt.decode(
                token,
                public,
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
            raise StorageUnavailable(f"cannot check the token's replay record: {exc}") from exc
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
