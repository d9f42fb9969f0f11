"""Where the embedded services put their unix sockets.

A unix socket path must fit ``sun_path`` (108 bytes on Linux, 104 on macOS). The socket lives
next to the service's data when that path is short enough, otherwise in a private directory
under ``/tmp`` named after a hash of the data directory (so each data directory gets its own).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

__all__ = ["MAX_SOCKET_PATH", "socket_dir"]

MAX_SOCKET_PATH = 100
_FALLBACK_ROOT = Path("/tmp")  # noqa: S108 - private 0700 directory, ownership checked below


def socket_dir(
    preferred: Path, socket_name: str, *, tag: str, owner_uid: int | None = None
) -> Path:
    """``preferred`` if the socket path fits, else ``/tmp/octollm-<tag>-<hash>``.

    The fallback directory is created with mode 0700 and must belong to this user (or to
    ``owner_uid``, the user the service runs as, to whom it is handed over); a directory planted
    there by someone else is refused.
    """
    if len(os.fsencode(preferred / socket_name)) < MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(os.fsencode(preferred.resolve())).hexdigest()[:12]
    fallback = _FALLBACK_ROOT / f"octollm-{tag}-{digest}"
    with contextlib.suppress(FileExistsError):
        fallback.mkdir(mode=0o700)
    info = fallback.lstat()
    allowed = {os.geteuid()} | ({owner_uid} if owner_uid is not None else set())
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in allowed:
        raise PermissionError(f"{fallback} is not a directory owned by this user; remove it")
    if owner_uid is not None and info.st_uid != owner_uid:
        os.chown(fallback, owner_uid, -1)
    fallback.chmod(0o700)
    return fallback
