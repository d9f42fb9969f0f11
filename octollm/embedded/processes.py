"""Child processes of the CLI and the embedded stack: spawned, watched and stopped in order.

Each child starts in a **new session**, so a terminal's Ctrl-C reaches only the CLI, which then
stops its children in a known order. On Linux each child also asks the kernel for a **death
signal** (``PR_SET_PDEATHSIG``), so it does not outlive a parent killed with SIGKILL. The kernel
sends that signal when the *thread* that spawned the child exits: spawn from the main thread.

``stop()`` signals the group leader only (Celery's main process, the postmaster and uvicorn each
shut their own children down; a signal to the whole group would kill Celery's prefork children
mid-task), waits, then SIGKILLs the process group, which also sweeps up stragglers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import structlog

from octollm.errors import ServiceUnavailable

__all__ = ["ManagedProcess", "spawn"]

_PR_SET_PDEATHSIG = 1

log = structlog.get_logger(__name__)


class ManagedProcess:
    """A child process started by :func:`spawn`; its stdout and stderr go to ``log_path``."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        log_path: Path,
        log_file: IO[bytes],
        stop_signal: signal.Signals,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.stop_signal = stop_signal
        self._popen = popen
        self._log_file = log_file

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    def alive(self) -> bool:
        return self._popen.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if the process is still running after ``timeout`` seconds."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, interval: float) -> None:
        """Poll ``ready()`` until it is true; raise if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise self._start_failure("exited during start")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self._start_failure(f"not ready after {timeout:.0f}s")
            time.sleep(interval)

    def _start_failure(self, reason: str) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"{self.name} {reason}; see {self.log_path}",
            details={"service": self.name, "log": str(self.log_path), "tail": self.log_tail()},
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """Ask the leader to stop, wait up to ``timeout`` seconds, then SIGKILL the group."""
        started = time.monotonic()
        forced = False
        if self.alive():
            self._signal_leader(self.stop_signal)
            if self.wait(timeout) is None:
                forced = True
                self.kill()
        self._kill_group()
        self._log_file.close()
        log.info(
            "process_stopped",
            service=self.name,
            pid=self.pid,
            returncode=self._popen.returncode,
            forced=forced,
            seconds=round(time.monotonic() - started, 3),
        )
        return self._popen.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group at once and reap the leader."""
        self._kill_group()
        self.wait(5.0)

    def log_tail(self, max_lines: int = 20) -> str:
        """The last lines of the log, for error messages."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-max_lines:])

    def _signal_leader(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def _kill_group(self) -> None:
        # The child is a session (and group) leader, so its pid is the group id; the id stays
        # reserved while any member lives, and killpg answers ESRCH once the group is empty.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def __repr__(self) -> str:
        state = "alive" if self.alive() else f"exited {self._popen.returncode}"
        return f"ManagedProcess({self.name!r}, pid={self.pid}, {state})"


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    log_path: Path,
    name: str,
    user: str | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start ``argv`` in a new session with a parent-death signal; output appends to ``log_path``.

    ``env`` is the child's complete environment (None: inherit this process's).
    ``user`` runs the child as that system user (needs root). ``stop_signal`` is what
    :meth:`ManagedProcess.stop` sends and what the child receives if this process dies
    (PostgreSQL wants SIGINT, its "fast" shutdown; SIGTERM means "wait for clients").
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    log_file.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start {name}\n".encode())
    log_file.flush()
    uid = gid = None
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    try:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_death_signal_preexec(stop_signal),
            user=uid,
            group=gid,
            extra_groups=[] if user is not None else None,
        )
    except BaseException:
        log_file.close()
        raise
    log.info("process_spawned", service=name, pid=popen.pid, log=str(log_path))
    return ManagedProcess(name, popen, log_path, log_file, stop_signal)


def _death_signal_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` arming PR_SET_PDEATHSIG in the child (Linux only).

    Popen switches user before calling it, so the setting survives (a later credential change
    would clear it). If the parent died before the call, the child kills itself.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: do not start at all
            os.kill(os.getpid(), signal.SIGKILL)

    return arm
