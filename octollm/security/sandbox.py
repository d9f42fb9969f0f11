"""Run untrusted Python or an argument vector in a limited child process (the executor sandbox).

Isolation is probed once per process (``detect_isolation()``) and reported in every result.

**As root** (how the executor pool runs), each run gets:

- a **minimal root of its own**: a fresh tmpfs it ``pivot_root``s into, holding only the
  interpreter, its standard library and shared libraries and the allowlisted commands, each
  mounted read-only at its real path (``rootfs.layout_for``); a synthetic /etc (passwd, group,
  ld.so.cache); a private size-capped /tmp and /dev/shm; the scratch dir (a size-capped tmpfs,
  cwd and ``HOME``); a minimal /dev; its own /proc. Nothing else of the host exists inside: no
  /run, /var, /home, /root, checkout or host /tmp, hence no host Unix socket to connect to;
- its own network (loopback down), IPC, UTS and **PID namespace**: the snippet is PID 1 there,
  sees only its own processes, and when it ends the kernel kills whatever it left running;
- a **dedicated uid/gid** (from ``uid_base``, reserved with ``flock``), no groups,
  ``no_new_privs``, and the **seccomp filter** of ``seccomp_filter`` (no namespaces, mounts,
  ptrace, bpf, keyrings, perf, userfaultfd, io_uring, modules, reboot; sockets only AF_UNIX);
- a **cgroup** (``cgroups``; v2, else v1 memory+pids+cpu): memory for all its processes
  together, a process count, a CPU share. A run that reaches its memory limit is killed whole.
  Without usable cgroups the per-process rlimits are all there is, and ``detect_isolation``
  logs that once.

**As non-root with unprivileged user namespaces**: the same namespaces and root inside a user
namespace mapping the caller's uid to itself (no uid change, no cgroups).

**Without namespaces**: no network or filesystem isolation; ``TMPDIR`` points at a scratch dir
on the host; commands that use the network and Python code importing network modules are
refused (a best-effort AST scan, not a boundary). As root the uid drop still applies.

**Always**: an allowlisted environment with no secrets, rlimits (CPU, address space, processes,
file size, open files, no core), the run killed at the wall-time limit (``timed_out=True``, not
an exception), stdout/stderr capped (``truncated=True``). The child is set up in ``preexec_fn``
with every value computed before the fork, so it mostly makes system calls; like any
``preexec_fn`` it is unsafe in a process running other threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from octollm.config.executor import DEFAULT_COMMANDS, ExecutorSettings
from octollm.errors import ArmRefused, ServiceUnavailable
from octollm.security import cgroups, rootfs, sandbox_output, seccomp_filter
from octollm.security.confine import ChildPlan, Isolation, RootLayout, enter_child, libc
from octollm.security.sandbox_checks import (
    NETWORK_COMMANDS,
    NETWORK_MODULES,
    command_hash,
    network_imports,
    others_may_run,
    uids_in_use,
    world_executable,
)

__all__ = [
    "NETWORK_COMMANDS", "NETWORK_MODULES", "Isolation", "Sandbox", "SandboxLimits",
    "SandboxResult", "command_hash", "detect_isolation", "network_imports",
]  # fmt: skip
KIB, MIB = 1024, 1024 * 1024
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
SCRATCH = "/scratch"  # the scratch dir's path inside the sandbox's own root
_SWEEP = "import os,signal,time\nfor _ in range(3):\n try: os.kill(-1, signal.SIGKILL)\n except OSError: pass\n time.sleep(0.005)"  # noqa: E501


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 30.0
    memory_bytes: int = 512 * MIB  # the run's cgroup, and RLIMIT_AS of each process
    max_processes: int = 32  # the run's cgroup pids.max, and RLIMIT_NPROC (threads count too)
    max_file_bytes: int = 16 * MIB  # RLIMIT_FSIZE
    max_open_files: int = 64
    max_output_bytes: int = 64 * KIB  # per stream
    tmpfs_bytes: int = 64 * MIB  # each private tmpfs (/tmp, /dev/shm)
    scratch_bytes: int = 64 * MIB  # the scratch tmpfs
    cpus: float = 1.0  # the run's CPU share (cgroup); 0 = unlimited

    @classmethod
    def from_settings(cls, cfg: ExecutorSettings) -> SandboxLimits:
        return cls(
            cfg.wall_seconds, cfg.memory_mib * MIB, cfg.max_processes, cfg.max_file_mib * MIB,
            cfg.max_open_files, cfg.max_output_kib * KIB, cfg.tmp_mib * MIB,
            cfg.scratch_mib * MIB, cfg.cpus,
        )  # fmt: skip


@dataclass(frozen=True)
class SandboxResult:
    stdout: str
    stderr: str
    exit_code: int  # the exit status, or 128 + the signal number when a signal ended the run
    signal: str | None
    timed_out: bool
    duration_ms: int
    command_hash: str
    truncated: bool
    limits: dict[str, Any]
    isolation: dict[str, Any]
    #: "memory" (the run was killed at its memory limit) | "processes" (a fork was refused)
    limit_hit: str | None = None
    memory_peak_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_run_limits() -> tuple[str, str]:
    """How per-run limits hold on this host ("cgroup-v2", "cgroup-v1" or "rlimits") and, for
    rlimits, why. The executor pool logs it once at start; ``octollm fleet`` prints it."""
    mode = cgroups.detect()
    return mode.name, mode.reason


@functools.cache
def detect_isolation(python: str | None = None) -> Isolation:
    """The strongest isolation a probe run achieves on this host (cached per process)."""
    user = "dedicated-uid" if os.geteuid() == 0 else "userns"
    mode = cgroups.detect()
    limits = mode.name if user == "dedicated-uid" else "rlimits"
    has_filter = seccomp_filter.build() is not None
    found = Isolation(False, False, "dedicated-uid" if user == "dedicated-uid" else "none")
    for candidate in (
        Isolation(True, True, user, has_filter, limits),
        Isolation(True, False, user, has_filter, limits),
    ):
        with contextlib.suppress(OSError, ArmRefused, ServiceUnavailable):
            probe = Sandbox(isolation=candidate, python=python)
            if probe.run_argv(["true"], timeout=10).exit_code == 0:
                found = candidate
                break
    return found


class Sandbox:
    """Runs one command per call in a fresh, limited child process."""

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        *,
        isolation: Isolation | None = None,
        scratch_root: str | None = None,
        python: str | None = None,
        commands: Sequence[str] = DEFAULT_COMMANDS,
        packages: Sequence[str] = (),
        uid_base: int = 200_000,
        uid_count: int = 512,
        lock_dir: str = "/run/octollm-sandbox",
        seccomp: bool = True,
        use_cgroups: bool = True,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.isolation = isolation or detect_isolation(python)
        self.scratch_root = scratch_root or tempfile.gettempdir()
        self._uid_range, self._lock_dir = (uid_base, uid_count), lock_dir
        drop = self.isolation.user == "dedicated-uid"
        minimal_root = self.isolation.filesystem
        choices = [python] if python else [sys.executable, "/usr/bin/python3"]
        usable = [
            p for p in choices
            if (others_may_run(p) if minimal_root else world_executable(p))
            or (not drop and os.access(p, os.X_OK))
        ]  # fmt: skip
        if not usable:
            raise ArmRefused(
                f"no Python the sandbox may execute among {choices}",
                details={"setting": "executor.python", "candidates": choices},
            )
        self.python = os.path.abspath(usable[0])  # runs the snippets (and the uid sweeper)
        self.commands = tuple(commands)
        self._seccomp = seccomp_filter.build() if seccomp and self.isolation.seccomp else None
        mode = cgroups.detect() if use_cgroups and drop else cgroups.CgroupMode(0)
        self._cgroups = mode if self.isolation.limits == mode.name else cgroups.CgroupMode(0)
        self._pkg_paths: list[str] = []
        self._layout = RootLayout()
        if minimal_root:
            programs = [
                p for c in {*self.commands, "true"} if (p := shutil.which(c, path=SANDBOX_PATH))
            ]
            self._pkg_paths = rootfs.package_paths(self.python, packages) if packages else []
            self._layout = rootfs.layout_for(self.python, programs, extra_paths=self._pkg_paths)
        libc()  # load libc and its prototypes before any fork

    @classmethod
    def from_settings(cls, cfg: ExecutorSettings) -> Sandbox:
        return cls(
            SandboxLimits.from_settings(cfg), python=cfg.python, commands=cfg.commands,
            packages=cfg.packages, uid_base=cfg.uid_base, uid_count=cfg.uid_count,
            seccomp=cfg.seccomp, use_cgroups=cfg.cgroups,
        )  # fmt: skip

    def run_python(
        self, code: str, *, timeout: float | None = None, stdin: str | None = None
    ) -> SandboxResult:
        """Run ``code`` as ``python -I -S -B main.py`` in the scratch dir (the standard library
        and the allowlisted packages only)."""
        if not self.isolation.network and (modules := sorted(network_imports(code))):
            raise ArmRefused(
                f"the code imports {', '.join(modules)}, which can use the network, and this host "
                "cannot give the sandbox an empty network namespace",
                details={"rule": "no_network", "modules": modules},
            )
        argv = [self.python, "-I", "-S", "-B", "main.py"]
        if self._pkg_paths:
            dirs = sorted({os.path.dirname(p) for p in self._pkg_paths})
            boot = f"import sys,runpy;sys.path[1:1]={dirs!r};sys.argv=['main.py'];runpy.run_path('main.py',run_name='__main__')"  # noqa: E501
            argv = [self.python, "-I", "-S", "-B", "-c", boot]
        return self._run(argv, ["python", code], timeout, stdin, {"main.py": code})

    def run_argv(
        self, argv: Sequence[str], *, timeout: float | None = None, stdin: str | None = None
    ) -> SandboxResult:
        """Run a program with arguments (never through a shell), found on the sandbox PATH."""
        if not argv:
            raise ArmRefused("an empty command cannot run")
        name = os.path.basename(argv[0])
        if not self.isolation.network and name in NETWORK_COMMANDS:
            raise ArmRefused(
                f"command {name!r} uses the network, and this host cannot give the sandbox an "
                "empty network namespace",
                details={"rule": "no_network", "command": name},
            )
        program = shutil.which(argv[0], path=SANDBOX_PATH)
        if program is None:
            raise ArmRefused(
                f"command {argv[0]!r} is not on the sandbox PATH ({SANDBOX_PATH})",
                details={"rule": "allowlist", "command": argv[0], "path": SANDBOX_PATH},
            )
        return self._run([program, *argv[1:]], list(argv), timeout, stdin, {})

    def limits_for(self, wall: float) -> dict[str, Any]:
        """The limits a run with this wall time gets, as reported in its result."""
        limits = {
            **asdict(replace(self.limits, wall_seconds=wall)),
            "cpu_seconds": math.ceil(wall) + 1,
            "per_run": self._cgroups.name,
        }
        if self.isolation.user == "none":
            limits["max_processes"] = None  # see _rlimits
        return limits

    def _run(
        self, argv: list[str], logical: list[str], timeout: float | None,
        stdin: str | None, files: Mapping[str, str],
    ) -> SandboxResult:  # fmt: skip
        wall = max(0.05, self.limits.wall_seconds if timeout is None else timeout)
        minimal_root = self.isolation.filesystem
        host_dir = tempfile.mkdtemp(prefix="octollm-sbx-", dir=self.scratch_root)
        uid: int | None = None
        lock_fd: int | None = None
        group: cgroups.RunCgroup | None = None
        try:
            if self.isolation.user == "dedicated-uid":
                uid, lock_fd = self._reserve_uid()
            if not minimal_root:  # the scratch dir is the host dir itself
                for name, text in files.items():
                    with open(os.path.join(host_dir, name), "w", encoding="utf-8") as fh:
                        fh.write(text)
                if uid is not None:
                    for path in [host_dir, *(os.path.join(host_dir, n) for n in files)]:
                        os.chown(path, uid, uid)
            if self._cgroups.version:
                lim = self.limits
                try:
                    group = cgroups.RunCgroup.create(
                        self._cgroups, lim.memory_bytes, lim.max_processes, lim.cpus
                    )
                except OSError as exc:
                    raise ServiceUnavailable(
                        f"the sandbox cgroup could not be made: {exc.strerror or exc}",
                        details={"resource": "cgroup", "errno": exc.errno},
                    ) from exc
            ids = (os.getuid(), os.getgid())
            layout = replace(
                self._layout, files=rootfs.passwd_files(uid if uid is not None else ids[0])
            )
            plan = ChildPlan(
                self.isolation, SCRATCH if minimal_root else host_dir, uid, ids,
                self._rlimits(wall), self.limits.tmpfs_bytes, self.limits.scratch_bytes,
                host_dir if minimal_root else None, layout,
                tuple((n, t.encode()) for n, t in files.items()) if minimal_root else (),
                group.procs if group else (), self._seccomp,
            )  # fmt: skip
            home = SCRATCH if minimal_root else host_dir
            env = {
                "PATH": SANDBOX_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home,
                "TMPDIR": "/tmp" if self.isolation.filesystem else host_dir,  # noqa: S108
                "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": "1",
            }  # fmt: skip
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    cwd=None if minimal_root else host_dir, env=env,
                    start_new_session=True, close_fds=True,
                    preexec_fn=functools.partial(enter_child, plan),
                )  # fmt: skip
            except (OSError, subprocess.SubprocessError) as exc:
                raise ServiceUnavailable(
                    f"the sandbox could not start: {exc}",
                    details={"resource": "process", "error": type(exc).__name__},
                ) from exc
            try:  # _pump kills the run before it returns
                out, err, timed_out, truncated, oom = sandbox_output.pump(
                    proc, stdin, started + wall, self.limits.max_output_bytes,
                    functools.partial(self._kill, proc, uid, group),
                    group.oom_fd if group is not None else None,
                )  # fmt: skip
            except BaseException:
                self._kill(proc, uid, group)
                raise
            finally:
                code = proc.wait()
            duration_ms = int((time.monotonic() - started) * 1000)
            limit_hit, peak = None, None
            if group is not None:
                peak = group.memory_peak()
                if oom or group.oom_kills():
                    limit_hit = "memory"
                elif group.pids_refused():
                    limit_hit = "processes"
        finally:
            if group is not None:
                group.close()
            if minimal_root:
                with contextlib.suppress(OSError):
                    os.rmdir(host_dir)
            else:
                shutil.rmtree(host_dir, ignore_errors=True)
            if lock_fd is not None:
                os.close(lock_fd)  # releases the uid
        sig = -code if code < 0 else 0
        return SandboxResult(
            stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
            exit_code=128 + sig if sig else code, signal=signal.Signals(sig).name if sig else None,
            timed_out=timed_out, duration_ms=duration_ms, command_hash=command_hash(logical),
            truncated=truncated, limits=self.limits_for(wall),
            isolation={**asdict(self.isolation), "uid": os.getuid() if uid is None else uid},
            limit_hit=limit_hit, memory_peak_bytes=peak,
        )  # fmt: skip

    def _rlimits(self, wall: float) -> tuple[tuple[int, int, int], ...]:
        lim, cpu = self.limits, math.ceil(wall) + 1
        nproc = lim.max_processes + (8 if self._cgroups.version else 0)
        limits = (
            (resource.RLIMIT_CPU, cpu, cpu + 1),
            (resource.RLIMIT_AS, lim.memory_bytes, lim.memory_bytes),
            # with a pids cgroup, let it be the one that refuses (it is counted per run)
            (resource.RLIMIT_NPROC, nproc, nproc),
            (resource.RLIMIT_FSIZE, lim.max_file_bytes, lim.max_file_bytes),
            (resource.RLIMIT_NOFILE, lim.max_open_files, lim.max_open_files),
            (resource.RLIMIT_CORE, 0, 0),
        )
        # Without a uid drop or a user namespace RLIMIT_NPROC would count all our processes.
        return tuple(
            r for r in limits if self.isolation.user != "none" or r[0] != resource.RLIMIT_NPROC
        )

    def _kill(
        self, proc: subprocess.Popen[bytes], uid: int | None, group: cgroups.RunCgroup | None
    ) -> None:
        """SIGKILL the process group (the unreaped leader keeps its id from being reused; with
        a PID namespace its PID 1 takes every process of the run along), the run's cgroup, and
        without a PID namespace every process of a dedicated uid."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if group is not None:
            group.kill()
        if uid is not None and not self.isolation.filesystem:
            self._sweep(uid)

    def _sweep(self, uid: int) -> None:
        """Kill every process of ``uid``: ``kill(-1)`` from a helper running as that uid."""
        subprocess.run(
            [self.python, "-I", "-S", "-c", _SWEEP], user=uid, group=uid, extra_groups=[], env={},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, timeout=10, check=False,
        )  # fmt: skip

    def _reserve_uid(self) -> tuple[int, int]:
        """A uid that no process uses (not even a zombie, which still counts for RLIMIT_NPROC)
        and no other run holds, reserved by an ``flock`` held until its fd is closed."""
        base, count = self._uid_range
        busy, start = uids_in_use(), secrets.randbelow(count)
        os.makedirs(self._lock_dir, mode=0o700, exist_ok=True)
        if os.stat(self._lock_dir).st_uid != 0:
            raise ArmRefused(
                f"the sandbox lock dir {self._lock_dir} is not owned by root",
                details={"path": str(self._lock_dir)},
            )
        for i in range(count):
            uid = base + (start + i) % count
            if uid in busy:
                continue
            fd = os.open(f"{self._lock_dir}/{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return uid, fd
        raise ServiceUnavailable(
            f"all {count} sandbox uids are in use; retry later",
            details={"resource": "uid", "setting": "executor.uid_count", "uid_count": count},
        )
