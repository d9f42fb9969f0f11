"""Confine a child process between fork and exec: namespaces, a minimal root, limits, identity.

The sandbox (``octollm.security.sandbox``) computes a ``ChildPlan`` before the fork and passes
``enter_child`` as ``preexec_fn``. Everything here runs in the child and only makes system calls
(through ctypes for ``unshare``, ``mount``, ``pivot_root`` and ``prctl``); a raised ``OSError``
aborts the child before it executes anything.

With filesystem isolation the child joins the run's cgroups, unshares the mount, network, IPC,
UTS and PID namespaces and forks: the parent stays behind as a tiny reaper that relays the exit
status, the child becomes PID 1 of the new PID namespace (when it ends, the kernel kills every
process left in the namespace). PID 1 builds a fresh root on a tmpfs (``RootLayout``),
``pivot_root``s into it, drops to the run's uid, sets ``no_new_privs`` and installs the seccomp
filter last.
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import signal
from dataclasses import dataclass, field

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 0x2
SYS_PIVOT_ROOT = 155  # x86_64; on aarch64 it is 41 (see _pivot_root)
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
DEVICES = ("null", "zero", "full", "random", "urandom")
DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
)


@dataclass(frozen=True)
class Isolation:
    """What the sandbox can isolate on this host."""

    network: bool  # own, empty network namespace
    filesystem: bool  # a minimal root of its own (pivot_root), own /proc (PID namespace)
    user: str  # "dedicated-uid" (root drops to a per-run uid) | "userns" | "none"
    seccomp: bool = False  # the syscall filter is installed
    limits: str = "rlimits"  # "cgroup-v2" | "cgroup-v1" | "rlimits": how per-run limits hold


@dataclass(frozen=True)
class Bind:
    """A host path mounted read-only at the same path inside the root."""

    path: str
    is_dir: bool
    flags: int  # MS_* flags of the read-only remount (keeps the source's noexec)


@dataclass(frozen=True)
class RootLayout:
    """What the fresh root holds besides /proc, /dev, /tmp and the scratch dir."""

    binds: tuple[Bind, ...] = ()
    symlinks: tuple[tuple[str, str], ...] = ()  # (path, target), as on the host
    files: tuple[tuple[str, bytes], ...] = ()  # synthetic read-only files (/etc/passwd)
    #: directories inside binds hidden under an empty read-only tmpfs (the base interpreter's
    #: site-packages); binds below them (allowlisted packages) are mounted again on top
    masks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChildPlan:
    """Everything the child needs, computed before the fork."""

    isolation: Isolation
    scratch: str  # the working directory (inside the root when there is one)
    uid: int | None  # the uid/gid to drop to (root), or None to stay
    outer_ids: tuple[int, int]
    rlimits: tuple[tuple[int, int, int], ...]
    tmpfs_bytes: int = 64 * 1024 * 1024
    scratch_bytes: int = 64 * 1024 * 1024
    root_mount: str | None = None  # an empty host dir to build the root on
    layout: RootLayout = field(default_factory=RootLayout)
    files: tuple[tuple[str, bytes], ...] = ()  # written into the scratch dir, owned by uid
    cgroup_procs: tuple[str, ...] = ()  # cgroup.procs files to join before anything else
    seccomp: bytes | None = None  # a packed classic-BPF program (``seccomp_filter.build``)


@functools.cache
def libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.syscall.restype = ctypes.c_long
    return libc


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    src: bytes | None, dst: bytes, kind: bytes | None, flags: int, data: bytes = b""
) -> None:
    _check(libc().mount(src, dst, kind, flags, data or None), f"mount {dst!r}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:  # one write(2) at close, as /proc/self/*_map requires
        fh.write(text)


def _pivot_root(new: bytes, old: bytes) -> None:
    number = 41 if os.uname().machine == "aarch64" else SYS_PIVOT_ROOT
    rc = libc().syscall(ctypes.c_long(number), ctypes.c_char_p(new), ctypes.c_char_p(old))
    _check(0 if rc == 0 else -1, "pivot_root")


def install_seccomp(program: bytes) -> None:
    """Install a packed BPF program (8 bytes per instruction); needs ``no_new_privs`` or root."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    rc = libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0)
    _check(rc, "prctl(SECCOMP)")


def _reaper(child: int) -> None:
    """The process left outside the PID namespace: relay PID 1's end, never return."""
    try:
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.closerange(0, 65536)  # no pipe of the run stays open through us
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    finally:
        os._exit(127)


def _bind_read_only(root: str, bind: Bind) -> None:
    dst = f"{root}{bind.path}"
    if bind.is_dir:
        os.makedirs(dst, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        if not os.path.lexists(dst):
            open(dst, "w").close()
    _mount(bind.path.encode(), dst.encode(), None, MS_BIND)
    _mount(None, dst.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY | bind.flags)


def _build_root(plan: ChildPlan) -> None:
    """Mount a tmpfs root at ``plan.root_mount`` and fill it; pivot into it."""
    assert plan.root_mount is not None
    root = plan.root_mount
    _mount(None, b"/", None, MS_REC | MS_PRIVATE)
    _mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=4m,mode=755")
    uid = plan.uid if plan.uid is not None else plan.outer_ids[0]
    for sub in ("proc", "dev", "tmp", "etc", plan.scratch.lstrip("/")):
        os.makedirs(f"{root}/{sub}", mode=0o755, exist_ok=True)
    tmp_opts = f"size={plan.tmpfs_bytes},nr_inodes=4096,mode=1777".encode()
    _mount(b"tmpfs", f"{root}/tmp".encode(), b"tmpfs", MS_NOSUID | MS_NODEV, tmp_opts)  # noqa: S108 - inside the run's own root
    scratch_opts = f"size={plan.scratch_bytes},nr_inodes=4096,mode=700,uid={uid},gid={uid}"
    scratch = f"{root}{plan.scratch}"
    _mount(b"tmpfs", scratch.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, scratch_opts.encode())
    for name, data in plan.files:
        path = f"{scratch}/{name}"
        with open(path, "wb") as fh:
            fh.write(data)
        os.chown(path, uid, uid)
    # a minimal /dev: the harmless character devices, a private /dev/shm, the fd links
    for name in DEVICES:
        open(f"{root}/dev/{name}", "w").close()
        _mount(f"/dev/{name}".encode(), f"{root}/dev/{name}".encode(), None, MS_BIND)
        _mount(None, f"{root}/dev/{name}".encode(), None, MS_REMOUNT | MS_BIND | MS_NOSUID)
    os.makedirs(f"{root}/dev/shm", mode=0o755)  # noqa: S108 - inside the run's own root
    _mount(b"tmpfs", f"{root}/dev/shm".encode(), b"tmpfs", MS_NOSUID | MS_NODEV, tmp_opts)  # noqa: S108 - inside the run's own root
    for name, target in DEV_LINKS:
        os.symlink(target, f"{root}/dev/{name}")
    for path, data in plan.layout.files:
        with open(f"{root}{path}", "wb") as fh:
            fh.write(data)
    for path, target in plan.layout.symlinks:
        os.makedirs(os.path.dirname(f"{root}{path}"), mode=0o755, exist_ok=True)
        if not os.path.lexists(f"{root}{path}"):
            os.symlink(target, f"{root}{path}")
    for bind in plan.layout.binds:
        _bind_read_only(root, bind)
    for mask in plan.layout.masks:
        dst = f"{root}{mask}".encode()
        _mount(b"tmpfs", dst, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64k,mode=755")
        for bind in plan.layout.binds:
            if bind.path.startswith(mask + "/"):
                _bind_read_only(root, bind)
        _mount(None, dst, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, b"size=64k")
    _mount(b"proc", f"{root}/proc".encode(), b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    _pivot_root(b".", b".")  # the old root now sits under the new one: detach it
    _check(libc().umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, b"/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def enter_child(plan: ChildPlan) -> None:
    """Runs in the child between fork and exec (``preexec_fn``); raising aborts the run."""
    iso = plan.isolation
    for procs in plan.cgroup_procs:  # before any fork: every descendant is counted
        _write(procs, str(os.getpid()))
    if iso.network:
        flags = CLONE_NEWNET | CLONE_NEWIPC
        if iso.filesystem:
            flags |= CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS
        _check(libc().unshare(flags | (CLONE_NEWUSER if iso.user == "userns" else 0)), "unshare")
        if iso.user == "userns":  # map our own ids; nothing else exists in the namespace
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{plan.outer_ids[0]} {plan.outer_ids[0]} 1")
            _write("/proc/self/gid_map", f"{plan.outer_ids[1]} {plan.outer_ids[1]} 1")
        if iso.filesystem:
            pid = os.fork()
            if pid:
                _reaper(pid)
            _check(libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
            _build_root(plan)
    os.chdir(plan.scratch)
    for which, soft, hard in plan.rlimits:
        resource.setrlimit(which, (soft, hard))
    if plan.uid is not None:
        os.setgroups([])
        os.setresgid(plan.uid, plan.uid, plan.uid)
        os.setresuid(plan.uid, plan.uid, plan.uid)
    _check(libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    if plan.seccomp is not None:
        install_seccomp(plan.seccomp)
