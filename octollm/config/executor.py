"""The executor sandbox's settings (``OCTOLLM_EXECUTOR__*``): limits, allowlists, interpreter.

See ``docs/security.md`` for what each wall stops."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_COMMANDS = ["echo", "cat", "ls", "head", "tail", "grep", "wc", "find"]


class ExecutorSettings(BaseModel):
    python: str | None = Field(
        default=None,
        description="Interpreter that runs snippets. Unset: the worker's own interpreter "
        "(a venv's bin/python is fine, wherever the venv lives).",
    )
    commands: list[str] = Field(
        default_factory=lambda: list(DEFAULT_COMMANDS),
        description="Allowlisted commands (a subset of the executor's rules); only these "
        "programs and their libraries exist inside the sandbox.",
    )
    packages: list[str] = Field(
        default_factory=list,
        description="Top-level packages of the interpreter's environment that snippets may "
        "import, mounted read-only (the standard library is always available).",
    )
    wall_seconds: float = Field(default=30.0, gt=0, le=300, description="Default time limit.")
    memory_mib: int = Field(
        default=512, ge=32, description="Memory of the whole run (all its processes, tmpfs too)."
    )
    max_processes: int = Field(default=32, ge=2, description="Processes and threads per run.")
    cpus: float = Field(default=1.0, ge=0, description="CPU share per run; 0 = unlimited.")
    scratch_mib: int = Field(default=64, ge=1, description="Size of the scratch tmpfs.")
    tmp_mib: int = Field(default=64, ge=1, description="Size of the private /tmp and /dev/shm.")
    max_file_mib: int = Field(default=16, ge=1, description="Largest file a run may write.")
    max_open_files: int = Field(
        description="Open file descriptors per process of a run.", default=64, ge=16
    )
    max_output_kib: int = Field(default=64, ge=1, description="Captured stdout/stderr cap.")
    seccomp: bool = Field(default=True, description="Install the syscall filter.")
    cgroups: bool = Field(default=True, description="Per-run cgroups when the host has them.")
    uid_base: int = Field(default=200_000, ge=1000, description="First per-run uid (as root).")
    uid_count: int = Field(
        description="Size of the per-run uid range (concurrent runs on one host as root).",
        default=512,
        ge=1,
        le=65536,
    )
