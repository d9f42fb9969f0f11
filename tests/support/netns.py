"""Hosts for the multi-host rig: network namespaces joined by veth pairs to a bridge that
lives in a namespace of its own, so every address (10.231.0.x/24) exists only inside the
namespaces the rig made. Root only (``ip netns``); ``Rig.close`` removes everything.

    <tag>sw   bridge br0 ── veth ── <tag>data   10.231.0.1   PostgreSQL, Redis
                        ├── veth ── <tag>edge   10.231.0.2   API, beat, orchestrator pool
                        ├── veth ── <tag>w1     10.231.0.3   arm workers
                        └── veth ── <tag>w2     10.231.0.4   arm workers
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Host:
    """One namespace with its own data directory and HOME (nothing shared but the network)."""

    ns: str
    addr: str
    root: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.home.mkdir(parents=True, exist_ok=True)
        full = {**env, "HOME": str(self.home), "OCTOLLM_DATA_DIR": str(self.data_dir)}
        with (self.root / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *argv],
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def run(
        self, argv: list[str], env: dict[str, str], stdin: str = "", timeout: float = 300
    ) -> str:
        full = {**env, "HOME": str(self.home), "OCTOLLM_DATA_DIR": str(self.data_dir)}
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, *argv],
            env=full,
            input=stdin.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{argv} on {self.ns} failed: {done.stderr.decode()[-3000:]}")
        return done.stdout.decode()

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_all(self) -> None:
        """SIGKILL every process this host runs (each in its own session)."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.procs.clear()

    def stop_all(self, timeout: float = 15) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()


class Rig:
    def __init__(self, root: Path, names: list[str]) -> None:
        self.tag = f"o{uuid.uuid4().hex[:4]}"
        self.switch = f"{self.tag}sw"
        self.hosts: dict[str, Host] = {}
        self.made: list[str] = []
        try:
            ip("netns", "add", self.switch)
            self.made.append(self.switch)
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "br0", "up")
            for n, name in enumerate(names, start=1):
                ns = f"{self.tag}{name}"
                ip("netns", "add", ns)
                self.made.append(ns)
                inner, outer = "eth0", f"p{n}"
                ip("link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer,
                   "netns", self.switch)  # fmt: skip
                ip("-n", self.switch, "link", "set", outer, "master", "br0", "up")
                addr = f"10.231.0.{n}"
                ip("-n", ns, "addr", "add", f"{addr}/24", "dev", inner)
                ip("-n", ns, "link", "set", inner, "up")
                ip("-n", ns, "link", "set", "lo", "up")
                self.hosts[name] = Host(ns, addr, root / name)
                (root / name).mkdir(parents=True, exist_ok=True)
        except BaseException:
            self.close()
            raise

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def close(self) -> None:
        for host in self.hosts.values():
            host.stop_all(5)
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.made.clear()
