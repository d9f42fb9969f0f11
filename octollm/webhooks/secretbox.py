"""Webhook signing secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256), keys rotated.

The keys, newest first, come from ``WebhookSettings.secret_keys`` (``SecretStr``; every process
that registers endpoints or delivers must share them) or, unset, from
``<data_dir>/webhook-secrets.keys`` (one key a line, newest first), created once with mode 0600
(``O_EXCL``, so processes starting together agree). ``SecretBox`` seals with the newest key and
opens with any (``MultiFernet``).

**Rotation** (``octollm webhooks rotate-key``): a new key is put first in the file, every row
is re-sealed with it (``rotate_rows``), then the older keys are dropped from the file. A
process still holding the old key list reloads the file when a secret does not open
(``open`` retries once with fresh keys), so workers need no restart. With keys from settings,
the operator puts the new key first, runs the command, then removes the old one.

Rows carry ``secret_scheme``: ``fernet`` (sealed) or ``plain`` (written before migration
``0007_h_webhooks``, which seals them; ``open`` still reads one left behind).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from octollm.config import Settings
from octollm.errors import InvalidInput

KEY_FILE = "webhook-secrets.keys"
SEALED = "fernet"
PLAIN = "plain"


class SecretUnreadable(InvalidInput):
    """A stored secret no configured key opens (a key was dropped too early)."""

    code = "WEBHOOK_SECRET_UNREADABLE"


def _valid(key: bytes) -> bytes:
    try:
        Fernet(key)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            "a webhook secret key must be 32 url-safe base64-encoded bytes "
            "(cryptography.fernet.Fernet.generate_key())",
            details={"setting": "webhooks.secret_keys", "env": "OCTOLLM_WEBHOOKS__SECRET_KEYS"},
        ) from exc
    return key


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def read_key_file(path: Path) -> list[bytes]:
    """The keys of a key file, newest first; FileNotFoundError when absent or being written."""
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    if not keys:
        raise FileNotFoundError(path)
    return [_valid(k) for k in keys]


def write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file atomically (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(b"\n".join(keys) + b"\n")
    os.replace(tmp, path)


def load_keys(configured: Sequence[SecretStr], data_dir: Path) -> list[bytes]:
    """The configured keys, or the data directory's (generated on first use)."""
    if configured:
        return [_valid(k.get_secret_value().encode()) for k in configured]
    path = key_path(data_dir)
    try:
        return read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _wait_for_keys(path)
    with os.fdopen(fd, "wb") as out:
        out.write(Fernet.generate_key() + b"\n")
    return read_key_file(path)


def _wait_for_keys(path: Path, timeout: float = 5.0) -> list[bytes]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read_key_file(path)
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise InvalidInput(
                    f"{path} holds no usable webhook secret key", details={"path": str(path)}
                ) from None
            time.sleep(0.02)


class SecretBox:
    """Seals and opens webhook secrets with the keys of one configuration."""

    def __init__(self, configured: Sequence[SecretStr], data_dir: Path) -> None:
        self._configured = tuple(configured)
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._fernet = MultiFernet([Fernet(k) for k in load_keys(configured, data_dir)])

    def reload(self) -> None:
        keys = load_keys(self._configured, self._data_dir)
        with self._lock:
            self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, secret: str) -> str:
        if not self._configured:
            self.reload()  # seal with the newest key even if another process just rotated
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str, scheme: str = SEALED) -> str:
        if scheme == PLAIN:
            return stored
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            self.reload()  # the file may have been rotated by another process
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("no webhook secret key opens this endpoint's secret") from None

    def reseal(self, stored: str, scheme: str = SEALED) -> str:
        """The secret sealed with the newest key (a plain one sealed for the first time)."""
        if scheme == PLAIN:
            return self.seal(stored)
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("no webhook secret key opens this endpoint's secret") from None


_boxes: dict[tuple[tuple[str, ...], str], SecretBox] = {}
_boxes_lock = threading.Lock()


def box_for(configured: Sequence[SecretStr], data_dir: Path) -> SecretBox:
    """The process's box for a configuration (keys loaded or generated once)."""
    cache_key = (tuple(k.get_secret_value() for k in configured), str(data_dir))
    with _boxes_lock:
        found = _boxes.get(cache_key)
        if found is None:
            found = SecretBox(configured, data_dir)
            _boxes[cache_key] = found
        return found


def box(settings: Settings) -> SecretBox:
    return box_for(settings.webhooks.secret_keys, settings.data_dir)


def add_key(data_dir: Path) -> list[bytes]:
    """Put a new key first in the data directory's key file; returns the keys, newest first."""
    path = key_path(data_dir)
    try:
        keys = read_key_file(path)
    except FileNotFoundError:
        keys = []
    keys = [Fernet.generate_key(), *keys]
    write_key_file(path, keys)
    return keys


def retire_old_keys(data_dir: Path) -> int:
    """Keep only the newest key in the data directory's key file; returns how many went."""
    path = key_path(data_dir)
    keys = read_key_file(path)
    write_key_file(path, keys[:1])
    return len(keys) - 1
