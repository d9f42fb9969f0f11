"""The executor's seccomp filter: a classic-BPF program built here, no library needed.

Refused calls return an error (``EPERM``; ``ENOSYS`` for ``clone3`` so that the C library falls
back to ``clone``, whose flags the filter can inspect), they never kill the process:

- namespaces: ``unshare``, ``setns``, ``clone`` with any ``CLONE_NEW*`` flag, ``clone3``;
- mounts and roots: ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the new mount API;
- debugging and kernel surfaces: ``ptrace``, ``process_vm_readv/writev``, ``bpf``, ``keyctl``,
  ``add_key``, ``request_key``, ``perf_event_open``, ``userfaultfd``, ``io_uring_*``,
  kernel modules, ``kexec``, ``reboot``, ``swapon/off``, ``acct``, ``syslog``, file handles;
- ``socket``/``socketpair`` for every address family except ``AF_UNIX``.

A foreign calling convention (x32 on x86_64, or any other architecture) is refused outright.
Only x86_64 and aarch64 are described; elsewhere ``build()`` returns ``None`` (no filter).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterable

AF_UNIX = 1
NAMESPACE_FLAGS = 0x7E020080  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16

DENIED = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "quotactl",
    "vhangup",
    "iopl",
    "ioperm",
    "pidfd_getfd",
    "kcmp",
)

_X86_64 = {
    "socket": 41, "socketpair": 53, "clone": 56, "clone3": 435, "unshare": 272, "setns": 308,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
    "mount_setattr": 442, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249, "perf_event_open": 298,
    "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
    "syslog": 103, "open_by_handle_at": 304, "name_to_handle_at": 303, "lookup_dcookie": 212,
    "quotactl": 179, "vhangup": 153, "iopl": 172, "ioperm": 173, "pidfd_getfd": 438, "kcmp": 312,
}  # fmt: skip
_AARCH64 = {
    "socket": 198, "socketpair": 199, "clone": 220, "clone3": 435, "unshare": 97, "setns": 268,
    "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "bpf": 280,
    "keyctl": 219, "add_key": 217, "request_key": 218, "perf_event_open": 241,
    "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
    "kexec_file_load": 294, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
    "syslog": 116, "open_by_handle_at": 265, "name_to_handle_at": 264, "lookup_dcookie": 18,
    "quotactl": 60, "vhangup": 58, "pidfd_getfd": 438, "kcmp": 272,
}  # fmt: skip
ARCHES = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}


class _Program:
    """A tiny assembler: jump targets are labels, resolved to forward offsets."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def pack(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.code):
            offs = [self.labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf)]
            if not all(0 <= o <= 255 for o in offs):
                raise ValueError("seccomp jump out of range")
            out += struct.pack("<HBBI", code, offs[0], offs[1], k & 0xFFFFFFFF)
        return bytes(out)


def build(machine: str | None = None, denied: Iterable[str] = DENIED) -> bytes | None:
    """The packed filter for this machine's architecture, or ``None`` where it is not described."""
    arch = ARCHES.get(machine or os.uname().machine)
    if arch is None:
        return None
    audit_arch, numbers = arch
    p = _Program()
    p.op(LD_W_ABS, OFF_ARCH)
    p.op(JEQ, audit_arch, 0, "deny")
    p.op(LD_W_ABS, OFF_NR)
    if audit_arch == ARCHES["x86_64"][0]:
        p.op(JGE, 0x40000000, "deny", 0)  # the x32 ABI
    for name in denied:
        if name in numbers:
            p.op(JEQ, numbers[name], "deny", 0)
    p.op(JEQ, numbers["clone3"], "nosys", 0)
    p.op(JEQ, numbers["clone"], "clone", 0)
    p.op(JEQ, numbers["socket"], "socket", 0)
    p.op(JEQ, numbers["socketpair"], "socket", 0)
    p.op(RET, RET_ALLOW)
    p.label("clone")
    p.op(LD_W_ABS, OFF_ARG0)  # the low 32 bits of the flags
    p.op(JSET, NAMESPACE_FLAGS, "deny", 0)
    p.op(RET, RET_ALLOW)
    p.label("socket")
    p.op(LD_W_ABS, OFF_ARG0)  # the address family
    p.op(JEQ, AF_UNIX, 0, "deny")
    p.op(RET, RET_ALLOW)
    p.label("nosys")
    p.op(RET, RET_ERRNO | errno.ENOSYS)
    p.label("deny")
    p.op(RET, RET_ERRNO | errno.EPERM)
    return p.pack()
