"""Per-run cgroups for the executor sandbox: memory (all processes of the run together, tmpfs
pages included), number of processes, and CPU share.

``detect()`` picks, once per process: cgroup v2 when a unified hierarchy offers the memory and
pids controllers; else the v1 ``memory`` and ``pids`` hierarchies (plus ``cpu`` when mounted);
else nothing (the sandbox falls back to per-process rlimits and says so). ``RunCgroup`` is
created before the child starts, the child writes itself into ``procs`` before it forks, and
``close()`` removes the groups once the run's processes are gone.

A run that reaches its memory limit is killed as a whole: v2 sets ``memory.oom.group``; on v1
an eventfd registered on ``memory.oom_control`` wakes the sandbox, which kills the run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import time
from dataclasses import dataclass, field

ROOT = "/sys/fs/cgroup"
PARENT = "octollm-sandbox"
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupMode:
    version: int  # 2 or 1; 0 = none usable
    base: str = ""  # v2: the unified mount
    v1: dict[str, str] = field(default_factory=dict)  # v1: controller -> its mount
    reason: str = ""  # why no cgroup is used (version 0)

    @property
    def name(self) -> str:
        return f"cgroup-v{self.version}" if self.version else "rlimits"


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _put(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


def _v2_base() -> str | None:
    for base in (ROOT, f"{ROOT}/unified"):
        with contextlib.suppress(OSError):
            if {"memory", "pids"} <= set(_read(f"{base}/cgroup.controllers").split()):
                return base
    return None


def _prepare_v2(base: str) -> None:
    parent = f"{base}/{PARENT}"
    wanted = {"memory", "pids"} | ({"cpu"} & set(_read(f"{base}/cgroup.controllers").split()))
    enable = " ".join(f"+{c}" for c in sorted(wanted))
    _put(f"{base}/cgroup.subtree_control", enable)
    os.makedirs(parent, exist_ok=True)
    _put(f"{parent}/cgroup.subtree_control", enable)


@functools.cache
def detect() -> CgroupMode:
    """The cgroup support this host gives a root process (cached)."""
    if os.geteuid() != 0:
        return CgroupMode(0, reason="not running as root")
    reasons = []
    base = _v2_base()
    if base is not None:
        try:
            _prepare_v2(base)
            return CgroupMode(2, base=base)
        except OSError as exc:
            reasons.append(f"cgroup v2 at {base}: {exc.strerror}")
    mounts = {c: f"{ROOT}/{c}" for c in ("memory", "pids", "cpu")}
    usable = {c: m for c, m in mounts.items() if os.path.exists(f"{m}/cgroup.procs")}
    if {"memory", "pids"} <= set(usable):
        try:
            for mount in usable.values():
                os.makedirs(f"{mount}/{PARENT}", exist_ok=True)
            return CgroupMode(1, v1=usable)
        except OSError as exc:
            reasons.append(f"cgroup v1: {exc.strerror}")
    else:
        reasons.append("no cgroup v2 with memory+pids, no v1 memory and pids hierarchies")
    return CgroupMode(0, reason="; ".join(reasons))


@dataclass
class RunCgroup:
    """The cgroups of one run (every path it made, and the files the child joins)."""

    mode: CgroupMode
    dirs: dict[str, str]  # controller (or "unified") -> directory
    procs: tuple[str, ...]
    oom_fd: int | None = None  # v1: an eventfd that becomes readable on an OOM kill

    @classmethod
    def create(cls, mode: CgroupMode, memory: int, pids: int, cpus: float) -> RunCgroup:
        name = f"run-{os.getpid()}-{secrets.token_hex(4)}"
        quota = f"{max(1000, int(cpus * CPU_PERIOD_US))}" if cpus > 0 else "max"
        if mode.version == 2:
            path = f"{mode.base}/{PARENT}/{name}"
            os.mkdir(path)
            group = cls(mode, {"unified": path}, (f"{path}/cgroup.procs",))
            try:
                _put(f"{path}/memory.max", str(memory))
                with contextlib.suppress(OSError):
                    _put(f"{path}/memory.swap.max", "0")
                _put(f"{path}/memory.oom.group", "1")
                _put(f"{path}/pids.max", str(pids))
                with contextlib.suppress(OSError):
                    _put(f"{path}/cpu.max", f"{quota} {CPU_PERIOD_US}")
            except BaseException:
                group.close()
                raise
            return group
        dirs = {c: f"{m}/{PARENT}/{name}" for c, m in mode.v1.items()}
        group = cls(mode, {}, ())
        try:
            for controller, path in dirs.items():
                os.mkdir(path)
                group.dirs[controller] = path
            mem = dirs["memory"]
            _put(f"{mem}/memory.limit_in_bytes", str(memory))
            with contextlib.suppress(OSError):  # only with swap accounting
                _put(f"{mem}/memory.memsw.limit_in_bytes", str(memory))
            with contextlib.suppress(OSError):
                _put(f"{mem}/memory.swappiness", "0")
            _put(f"{dirs['pids']}/pids.max", str(pids))
            if "cpu" in dirs and quota != "max":
                _put(f"{dirs['cpu']}/cpu.cfs_period_us", str(CPU_PERIOD_US))
                _put(f"{dirs['cpu']}/cpu.cfs_quota_us", quota)
            efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
            group.oom_fd = efd
            ofd = os.open(f"{mem}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _put(f"{mem}/cgroup.event_control", f"{efd} {ofd}")
            finally:
                os.close(ofd)
            group.procs = tuple(f"{p}/cgroup.procs" for p in dirs.values())
        except BaseException:
            group.close()
            raise
        return group

    def _counter(self, file: str, key: str) -> int:
        with contextlib.suppress(OSError, ValueError, KeyError):
            fields = dict(line.split() for line in _read(file).splitlines() if line.strip())
            return int(fields[key])
        return 0

    def oom_kills(self) -> int:
        if "unified" in self.dirs:
            return self._counter(f"{self.dirs['unified']}/memory.events", "oom_kill")
        return self._counter(f"{self.dirs.get('memory', '')}/memory.oom_control", "oom_kill")

    def pids_refused(self) -> int:
        path = self.dirs.get("unified") or self.dirs.get("pids", "")
        return self._counter(f"{path}/pids.events", "max")

    def memory_peak(self) -> int | None:
        if "unified" in self.dirs:
            names = [f"{self.dirs['unified']}/memory.peak"]
        else:
            names = [f"{self.dirs.get('memory', '')}/memory.max_usage_in_bytes"]
        for name in names:
            with contextlib.suppress(OSError, ValueError):
                return int(_read(name))
        return None

    def kill(self) -> None:
        """Kill every process in the run's cgroup (the PID namespace usually did already)."""
        if "unified" in self.dirs:
            with contextlib.suppress(OSError):
                _put(f"{self.dirs['unified']}/cgroup.kill", "1")
                return
        for path in self.dirs.values():
            with contextlib.suppress(OSError, ValueError):
                for pid in _read(f"{path}/cgroup.procs").split():
                    with contextlib.suppress(OSError):
                        os.kill(int(pid), 9)

    def close(self, wait: float = 2.0) -> None:
        """Remove the groups once empty (killing what is left), and the eventfd."""
        if self.oom_fd is not None:
            os.close(self.oom_fd)
            self.oom_fd = None
        deadline = time.monotonic() + wait
        for path in self.dirs.values():
            while True:
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY: a process of the run is still exiting
                    if time.monotonic() > deadline:
                        break
                    self.kill()
                    time.sleep(0.005)
        self.dirs.clear()
