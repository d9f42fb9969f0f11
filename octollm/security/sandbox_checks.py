"""What the executor sandbox decides before anything runs: the command hash (provenance), the
network-capable imports and commands refused where there is no network namespace, and which
interpreter files a dedicated uid may execute."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import os
import stat
from collections.abc import Sequence

NETWORK_COMMANDS = frozenset(
    {"curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "sftp", "rsync", "telnet"}
    | {"ftp", "ping", "dig", "nslookup", "host", "nmap", "git"}
)
NETWORK_MODULES = frozenset(
    {"socket", "ssl", "select", "selectors", "asyncio", "urllib", "urllib3", "http", "httpx"}
    | {"requests", "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "nntplib", "telnetlib"}
    | {"xmlrpc", "socketserver", "webbrowser", "subprocess", "multiprocessing", "ctypes"}
    | {"importlib", "__import__"}
)


def command_hash(parts: Sequence[str]) -> str:
    """sha256 over the command and its arguments (NUL-separated), as in OctoLLM's provenance."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def network_imports(code: str) -> set[str]:
    """Network-capable modules the code imports (static; code that fails to parse never runs)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Name) and node.id == "__import__":
            found.add("__import__")
    return found & NETWORK_MODULES


def world_executable(path: str) -> bool:
    """Whether any uid may execute ``path`` (the file and every ancestor have o+x)."""
    chain = [os.path.realpath(path)]
    while chain[-1] != "/":
        chain.append(os.path.dirname(chain[-1]))
    try:
        return all(os.stat(p).st_mode & stat.S_IXOTH for p in chain)
    except OSError:
        return False


def others_may_run(path: str) -> bool:
    """Whether the file itself lets any uid execute it (ancestors are re-created in the root)."""
    try:
        return bool(os.stat(path).st_mode & stat.S_IXOTH)
    except OSError:
        return False


def uids_in_use() -> set[int]:
    """Real uids of every process on the host, zombies included (from /proc)."""
    used = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, StopIteration), open(f"{entry.path}/status") as fh:
                used.add(int(next(line for line in fh if line.startswith("Uid:")).split()[1]))
    return used
