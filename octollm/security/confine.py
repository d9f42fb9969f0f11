"""Confine a child process between fork and exec: namespaces, mounts, rlimits, identity.

The sandbox (``octollm.security.sandbox``) computes a ``ChildPlan`` before the fork and passes
``enter_child`` as ``preexec_fn``. Everything here runs in the child and only makes system calls
(through ctypes for ``unshare``, ``mount``, ``mount_setattr`` and ``prctl``); a raised
``OSError`` aborts the child before it executes anything.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import signal
from dataclasses import dataclass

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWNET = 0x20000, 0x8000000, 0x10000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
AT_FDCWD, AT_RECURSIVE, SYS_MOUNT_SETATTR = -100, 0x8000, 442  # same number on every arch
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
PRIVATE_TMPFS = ("/tmp", "/dev/shm")  # noqa: S108 - the child gets a private tmpfs on each


@dataclass(frozen=True)
class Isolation:
    """What the sandbox can isolate on this host."""

    network: bool  # own, empty network namespace
    filesystem: bool  # read-only mounts, private /tmp and /dev/shm
    user: str  # "dedicated-uid" (root drops to a per-run uid) | "userns" | "none"


@dataclass(frozen=True)
class ChildPlan:
    """Everything the child needs, computed before the fork."""

    isolation: Isolation
    scratch: str
    uid: int | None  # the uid/gid to drop to (root), or None to stay
    outer_ids: tuple[int, int]
    rlimits: tuple[tuple[int, int, int], ...]
    tmpfs_options: bytes


class _MountAttr(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("attr_set", "attr_clr", "propagation", "userns")]


@functools.cache
def libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    src: bytes | None, dst: bytes, kind: bytes | None, flags: int, data: bytes = b""
) -> None:
    _check(libc().mount(src, dst, kind, flags, data or None), f"mount {dst!r}")


def _setattr(path: bytes, flags: int, attr_set: int, attr_clr: int) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    rc = libc().syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(path),
        ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )  # fmt: skip
    _check(0 if rc == 0 else -1, f"mount_setattr {path!r}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:  # one write(2) at close, as /proc/self/*_map requires
        fh.write(text)


def enter_child(plan: ChildPlan) -> None:
    """Runs in the child between fork and exec (``preexec_fn``); raising aborts the run."""
    iso, scratch = plan.isolation, plan.scratch.encode()
    if iso.network:
        flags = CLONE_NEWNET | CLONE_NEWIPC | (CLONE_NEWNS if iso.filesystem else 0)
        _check(libc().unshare(flags | (CLONE_NEWUSER if iso.user == "userns" else 0)), "unshare")
        if iso.user == "userns":  # map our own ids; nothing else exists in the namespace
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{plan.outer_ids[0]} {plan.outer_ids[0]} 1")
            _write("/proc/self/gid_map", f"{plan.outer_ids[1]} {plan.outer_ids[1]} 1")
        if iso.filesystem:
            _mount(None, b"/", None, MS_REC | MS_PRIVATE)
            _setattr(b"/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)
            keep = os.open(scratch, os.O_PATH | os.O_DIRECTORY)  # must be a mount of this ns
            for target in PRIVATE_TMPFS:
                _mount(
                    b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, plan.tmpfs_options
                )
            os.makedirs(scratch, exist_ok=True)  # re-creates the mount point under a new tmpfs
            _mount(f"/proc/self/fd/{keep}".encode(), scratch, None, MS_BIND)
            os.close(keep)
            _setattr(scratch, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, MOUNT_ATTR_RDONLY)
    os.chdir(scratch)
    for which, soft, hard in plan.rlimits:
        resource.setrlimit(which, (soft, hard))
    if plan.uid is not None:
        os.setgroups([])
        os.setresgid(plan.uid, plan.uid, plan.uid)
        os.setresuid(plan.uid, plan.uid, plan.uid)
    _check(libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
