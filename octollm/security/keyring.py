"""Capability keyrings: the Ed25519 keys that sign and verify capability tokens.

A keyring file is a JWK set (RFC 7517) of Ed25519 keys (``kty`` OKP, ``crv`` Ed25519), each
with its key id (``kid``), newest first::

    {"keys": [{"kid": "20261203-1a2b3c4d", "kty": "OKP", "crv": "Ed25519", "x": ..., "d": ...},
              {"kid": "20261101-9f8e7d6c", ...}]}

- the **private keyring** (``d`` present) is held by the publishers only (API, orchestrator
  pool, beat, webhooks pool): its first key signs, every key verifies;
- the **public keyring** (no ``d``; ``octollm keys capability export-public``) is all an arm
  worker holds: it can check a token but never mint one for another arm.

``rotate`` puts a new key first and keeps one previous key, so tokens minted before the
rotation stay valid while the new public keyring reaches the workers. Files are written
atomically (temporary file, then rename), private ones 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import OKPAlgorithm

from octollm.errors import InvalidInput

#: How many keys a rotation keeps: the new current one and one previous.
KEEP = 2
#: The generated single-host keyring, in the data directory.
KEY_FILE = "capability.jwks"


class KeyringError(InvalidInput):
    """A keyring that cannot be used (missing file, no private key, bad JSON)."""

    code = "CAPABILITY_KEYS"


@dataclass(frozen=True)
class Keyring:
    """Verifying keys by ``kid``; ``signing`` is the current private key when this process
    may mint tokens. ``source`` says where the keys came from (for messages)."""

    verifying: Mapping[str, Ed25519PublicKey]
    signing: tuple[str, Ed25519PrivateKey] | None = None
    source: str = "memory"
    private: Mapping[str, Ed25519PrivateKey] = field(default_factory=dict)

    @property
    def kids(self) -> list[str]:
        return list(self.verifying)

    @property
    def current_kid(self) -> str | None:
        return self.signing[0] if self.signing is not None else None

    @classmethod
    def generate(cls, source: str = "memory") -> Keyring:
        """A fresh one-key private keyring (tests, the embedded default)."""
        key = Ed25519PrivateKey.generate()
        kid = key_id(key.public_key())
        return cls({kid: key.public_key()}, (kid, key), source, {kid: key})

    def rotated(self) -> Keyring:
        """A new current key first, the old current one kept (``KEEP`` keys in all)."""
        key = Ed25519PrivateKey.generate()
        kid = key_id(key.public_key())
        private = {kid: key, **{k: v for k, v in self.private.items() if k != kid}}
        private = dict(list(private.items())[:KEEP])
        return Keyring(
            {k: v.public_key() for k, v in private.items()}, (kid, key), self.source, private
        )

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [_jwk(kid, pub) for kid, pub in self.verifying.items()]}

    def private_jwks(self) -> dict[str, Any]:
        return {"keys": [_jwk(kid, key) for kid, key in self.private.items()]}

    def describe(self) -> str:
        role = f"signs with {self.current_kid}" if self.signing else "verify-only"
        return f"{role}; verifies {', '.join(self.kids) or 'nothing'} (from {self.source})"


def key_id(public: Ed25519PublicKey) -> str:
    """``<UTC date>-<8 hex of the public key's SHA-256>``: readable and unique enough."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{time.strftime('%Y%m%d', time.gmtime())}-{hashlib.sha256(raw).hexdigest()[:8]}"


def _jwk(kid: str, key: Ed25519PrivateKey | Ed25519PublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(key, as_dict=True)
    return {"kid": kid, "alg": "EdDSA", "use": "sig", **jwk}


def parse(document: Mapping[str, Any], source: str) -> Keyring:
    """A keyring from a JWK set; its first private key (if any) signs."""
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise KeyringError(f"{source} holds no keys (expected a JWK set: {{'keys': [...]}})")
    verifying: dict[str, Ed25519PublicKey] = {}
    private: dict[str, Ed25519PrivateKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            raise KeyringError(f"{source}: every key needs a string 'kid'")
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            raise KeyringError(f"{source}: key {entry['kid']!r} is not an Ed25519 (OKP) key")
        try:
            key = OKPAlgorithm.from_jwk({k: v for k, v in entry.items() if k != "kid"})
        except Exception as exc:  # PyJWT raises InvalidKeyError and friends
            raise KeyringError(f"{source}: key {entry['kid']!r} is unreadable: {exc}") from exc
        if isinstance(key, Ed25519PrivateKey):
            private[entry["kid"]] = key
            verifying[entry["kid"]] = key.public_key()
        elif isinstance(key, Ed25519PublicKey):
            verifying[entry["kid"]] = key
        else:
            raise KeyringError(f"{source}: key {entry['kid']!r} is not an Ed25519 key")
    signing = next(iter(private.items()), None)
    return Keyring(verifying, signing, source, private)


def read(path: Path) -> Keyring:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyringError(f"{path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise KeyringError(f"{path} is not a readable JWK set: {exc}") from exc
    if not isinstance(document, dict):
        raise KeyringError(f"{path} is not a JWK set")
    return parse(document, str(path))


def write(path: Path, document: Mapping[str, Any], *, private: bool) -> None:
    """Replace ``path`` atomically (0600 when it holds private keys, else 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "w") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generated(path: Path, timeout: float = 5.0) -> Keyring:
    """The keyring at ``path``, created once when missing (``O_EXCL``, so processes starting
    together on one host agree on it): the single-host default."""
    try:
        return read(path)
    except KeyringError:
        if path.exists():
            return _wait_for(path, timeout)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _wait_for(path, timeout)
    keyring = Keyring.generate(str(path))
    with os.fdopen(fd, "w") as out:
        json.dump(keyring.private_jwks(), out, indent=2)
        out.write("\n")
    return read(path)


def _wait_for(path: Path, timeout: float) -> Keyring:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read(path)
        except KeyringError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def load(
    keys_file: Path | None, public_keys_file: Path | None, data_dir: Path
) -> tuple[Keyring, bool]:
    """The process's keyring from its settings, and whether it was generated on this host.

    ``keys_file`` (publishers) must hold a private key; ``public_keys_file`` (arm workers)
    adds verifying keys; neither: ``<data_dir>/capability.jwks``, generated once.
    """
    if keys_file is None and public_keys_file is None:
        return generated(data_dir / KEY_FILE), True
    verifying: dict[str, Ed25519PublicKey] = {}
    signing: tuple[str, Ed25519PrivateKey] | None = None
    private: Mapping[str, Ed25519PrivateKey] = {}
    sources: list[str] = []
    if keys_file is not None:
        own = read(keys_file)
        if own.signing is None:
            raise KeyringError(
                f"OCTOLLM_CAPABILITY__KEYS_FILE={keys_file} holds no private key: it must be "
                "the private keyring (`octollm keys capability rotate --file ...`); arm "
                "workers set OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE instead"
            )
        verifying.update(own.verifying)
        signing, private = own.signing, own.private
        sources.append(str(keys_file))
    if public_keys_file is not None:
        verifying.update(read(public_keys_file).verifying)
        sources.append(str(public_keys_file))
    return Keyring(verifying, signing, " + ".join(sources), private), False


def mtimes(*paths: Path | None) -> tuple[int, ...]:
    """Modification times (ns) of the files that exist: a keyring cache is keyed on them, so a
    rotation reaches running processes without a restart."""
    found = []
    for path in paths:
        try:
            found.append(path.stat().st_mtime_ns if path is not None else 0)
        except OSError:
            found.append(-1)
    return tuple(found)
