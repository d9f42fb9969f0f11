"""The executor sandbox's output loop: feed stdin, collect capped stdout/stderr, and end the run
at its deadline, at an out-of-memory kill in its cgroup, or when its main process exits."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Callable

DRAIN_GRACE = 0.5  # seconds to collect output once the main process has ended


def pump(
    proc: subprocess.Popen[bytes], stdin: str | None, deadline: float, cap: int,
    kill: Callable[[], None], oom_fd: int | None,
) -> tuple[bytes, bytes, bool, bool, bool]:  # fmt: skip
    """Feed stdin and collect capped output; kill at the deadline, at an out-of-memory kill
    in the run's cgroup, or when the main process ends (nothing outlives it), then drain
    what is left for a short grace period."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = bytearray(), bytearray()
    bufs = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    truncated, timed_out, grace_end = False, False, None
    oom = False
    pending = memoryview((stdin or "").encode())
    pidfd = os.pidfd_open(proc.pid)  # readable once the process has exited
    sel = selectors.DefaultSelector()
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    if oom_fd is not None:
        sel.register(oom_fd, selectors.EVENT_READ, "oom")
    for fd in bufs:
        sel.register(fd, selectors.EVENT_READ, "out")
    if proc.stdin is not None:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "in")
    try:
        while sel.get_map():
            now = time.monotonic()
            limit = deadline if grace_end is None else grace_end
            if now >= limit:
                if grace_end is not None:
                    break  # a process out of our reach still holds the pipes
                timed_out, grace_end = True, now + DRAIN_GRACE
                kill()
            for key, _ in sel.select(max(0.0, limit - now)):
                if key.data in ("exit", "oom"):
                    sel.unregister(key.fd)
                    oom = oom or key.data == "oom"
                    if oom_fd is not None and oom_fd in sel.get_map():
                        sel.unregister(oom_fd)  # only the pipes keep the loop going now
                    if grace_end is None:
                        grace_end = time.monotonic() + DRAIN_GRACE
                        kill()
                elif key.data == "in":
                    try:
                        pending = pending[os.write(key.fd, pending[:65536]) :]
                    except OSError:  # the child closed its stdin or died
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fd)
                        proc.stdin.close()  # type: ignore[union-attr]
                elif chunk := os.read(key.fd, 65536):
                    buf = bufs[key.fd]
                    truncated = truncated or len(buf) + len(chunk) > cap
                    buf += chunk[: max(cap - len(buf), 0)]
                else:
                    sel.unregister(key.fd)
    finally:
        sel.close()
        os.close(pidfd)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                pipe and pipe.close()
    return bytes(out), bytes(err), timed_out, truncated, oom
