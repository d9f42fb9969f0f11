"""What the sandbox's minimal root must hold for an interpreter and a list of commands.

Everything is found on the host once (``layout_for``): the interpreter's symlink chain (a venv's
``bin/python`` -> the base interpreter), its ``pyvenv.cfg``, the standard library directories
from its own ``sys.path`` (asked with ``-I -S``, as snippets run), and the shared libraries of the
interpreter, of its extension modules and of each command (``ldd``). Each is mounted read-only
at its real path, with every symlink on the way re-created, so the layout works wherever the
interpreter lives: a venv under /tmp or /dev/shm, a home directory (root's pyenv included; the
directories above it are created world-traversable in the root), pipx, the system Python.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from octollm.errors import ArmRefused
from octollm.security.confine import MS_NODEV, MS_NOEXEC, MS_NOSUID, Bind, RootLayout

_PROBE = (
    "import json, sys\n"
    "print(json.dumps({'path': sys.path, 'prefix': sys.prefix, 'base': sys.base_prefix}))"
)
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")
EXTRA_FILES = ("/etc/ld.so.cache", "/etc/localtime")


def symlink_chain(path: str) -> tuple[list[tuple[str, str]], str]:
    """The symlinks met while resolving ``path`` (each at its own resolved location, with its
    target as written) and the real path it ends at."""
    links: list[tuple[str, str]] = []
    pending = [p for p in reversed(path.split("/")) if p]
    current, hops = "/", 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        nxt = os.path.join(current, part)
        if os.path.islink(nxt):
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks resolving {path}")
            target = os.readlink(nxt)
            links.append((nxt, target))
            if target.startswith("/"):
                current = "/"
            pending.extend(p for p in reversed(target.split("/")) if p)
        else:
            current = nxt
    return links, current


def shared_libraries(files: Iterable[str]) -> set[str]:
    """Every shared library the dynamic loader maps for these ELF files (``ldd``)."""
    files = [f for f in files if os.path.isfile(f)]
    ldd = shutil.which("ldd")
    if not files or ldd is None:
        return set()
    found: set[str] = set()
    for i in range(0, len(files), 64):
        out = subprocess.run(
            [ldd, *files[i : i + 64]], capture_output=True, text=True, timeout=60, check=False
        ).stdout
        found.update(m.group(1) for m in _LDD_PATH.finditer(out))
    return {f for f in found if os.path.exists(f)}


def probe_python(python: str) -> dict[str, object]:
    """The interpreter's own view of its paths (run exactly as the sandbox runs snippets)."""
    try:
        out = subprocess.run(
            [python, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=60
        )
    except OSError as exc:
        raise ArmRefused(
            f"the sandbox interpreter {python} cannot run: {exc.strerror or exc}",
            details={"setting": "executor.python", "python": python, "errno": exc.errno},
        ) from exc
    if out.returncode != 0:
        raise ArmRefused(
            f"the sandbox interpreter {python} fails (exit {out.returncode})",
            details={
                "setting": "executor.python",
                "python": python,
                "exit_code": out.returncode,
                "stderr": out.stderr.strip()[-300:],
            },
        )
    found: dict[str, object] = json.loads(out.stdout)
    return found


def _mount_flags(path: str) -> int:
    flags = MS_NOSUID | MS_NODEV
    try:
        if os.statvfs(path).f_flag & os.ST_NOEXEC:
            flags |= MS_NOEXEC
    except OSError:
        pass
    return flags


def layout_for(
    python: str, commands: Sequence[str], *, extra_paths: Sequence[str] = ()
) -> RootLayout:
    """The read-only binds and symlinks a root needs to run ``python`` and ``commands``
    (cached per process: found once, mounted for every run)."""
    return _layout_for(python, tuple(commands), tuple(extra_paths))


@functools.cache
def _layout_for(python: str, commands: tuple[str, ...], extra_paths: tuple[str, ...]) -> RootLayout:
    info = probe_python(python)
    needed: list[str] = [python, *commands, *extra_paths]
    venv_cfg = Path(python).parent.parent / "pyvenv.cfg"
    if venv_cfg.exists():
        needed.append(str(venv_cfg))
    paths = info.get("path")
    stdlib = [p for p in paths if isinstance(p, str) and p] if isinstance(paths, list) else []
    needed += [p for p in stdlib if os.path.isdir(p)]
    elf = [python, *commands]
    for directory in stdlib:
        if os.path.isdir(directory) and directory.endswith("lib-dynload"):
            elf += [e.path for e in os.scandir(directory) if e.name.endswith(".so")]
    needed += sorted(shared_libraries(os.path.realpath(f) for f in elf))
    needed += [f for f in EXTRA_FILES if os.path.exists(f)]
    links: dict[str, str] = {}
    real: set[str] = set()
    for path in needed:
        chain, target = symlink_chain(path)
        links.update(chain)
        if os.path.exists(target):
            real.add(target)
    binds: list[Bind] = []
    for path in sorted(real, key=lambda p: (p.count("/"), p)):
        if any(path.startswith(b.path.rstrip("/") + "/") for b in binds if b.is_dir):
            continue  # already inside a bound directory
        binds.append(Bind(path, os.path.isdir(path), _mount_flags(path)))
    inside = [b.path for b in binds if b.is_dir]
    symlinks = tuple(
        (p, t) for p, t in sorted(links.items()) if not any(p.startswith(d + "/") for d in inside)
    )
    masks = tuple(
        f"{b.path}/{name}"
        for b in binds
        if b.is_dir
        for name in ("site-packages", "dist-packages")
        if os.path.isdir(f"{b.path}/{name}")
    )
    return RootLayout(binds=tuple(binds), symlinks=symlinks, masks=masks)


def passwd_files(uid: int) -> tuple[tuple[str, bytes], ...]:
    """A minimal /etc/passwd and /etc/group naming the run's user."""
    passwd = f"root:x:0:0::/:/sbin/nologin\nsandbox:x:{uid}:{uid}::/scratch:/bin/false\n"
    group = f"root:x:0:\nsandbox:x:{uid}:\n"
    return (("/etc/passwd", passwd.encode()), ("/etc/group", group.encode()))


def package_paths(python: str, packages: Sequence[str]) -> list[str]:
    """Where the interpreter's environment keeps each allowlisted top-level package (its
    directory, or its single-file module)."""
    code = (
        "import importlib.util, json, sys\nfound = []\n"
        "for name in sys.argv[1:]:\n"
        "    spec = importlib.util.find_spec(name)\n"
        "    if spec is None: raise SystemExit(f'package {name} is not installed')\n"
        "    locs = list(spec.submodule_search_locations or [])\n"
        "    found += locs or [spec.origin]\n"
        "print(json.dumps(found))"
    )
    out = subprocess.run(
        [python, "-c", code, *packages], capture_output=True, text=True, timeout=60, check=False
    )
    if out.returncode != 0:
        raise ArmRefused(
            "allowlisted packages unavailable",
            details={
                "setting": "executor.packages",
                "packages": list(packages),
                "stderr": out.stderr.strip()[-300:],
            },
        )
    paths: list[str] = json.loads(out.stdout)
    return paths
