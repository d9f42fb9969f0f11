"""The executor arm: run Python or an allowlisted command in the sandbox, deterministically.

Checks, in OctoLLM's order, before anything runs (each failure is an ``ArmRefused`` naming
its rule): the capability grant allows the command -> the command is on the allowlist -> its
flags are allowed -> its paths stay inside the scratch dir -> it needs no network (the sandbox
gives none). Commands run as an argument vector, never through a shell, so shell syntax (pipes,
redirects, substitutions) is refused rather than silently passed along as text.

A run killed at its time limit is a result (``timed_out: true``), not an error. The wall-time
limit is the smallest of the input's ``timeout_seconds``, the grant's ``max_duration`` and the
time left before the step's deadline.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from octollm.arms import checks
from octollm.arms.base import ArmContext, ArmResult
from octollm.config import get_settings
from octollm.contracts.arm_io import ExecutorInput, ExecutorOutput
from octollm.errors import ArmRefused, InvalidInput
from octollm.security.sandbox import MIB, Sandbox, SandboxResult

MAX_TIMEOUT_SECONDS = 300
MAX_CODE_CHARS = 200_000
MAX_STDIN_CHARS = 1_000_000
_META_TOKENS = frozenset({"|", "||", "&", "&&", ";", ";;", "|&", "&>", ">", ">>", "<", "<<", "<<<"})
_META_PARTS = ("`", "$(", "${", "\n", "\r", "\x00")
_REDIRECT = re.compile(r"^\d*[<>]|^[|&;]|[|&;]$")
#: How a refused system call (seccomp's EPERM) shows in a run's stderr.
_REFUSED_CALL = re.compile(
    r"^\w*(?:Error|Exception)\b.*\[Errno 1\] Operation not permitted.*$", re.M
)


@dataclass(frozen=True)
class CommandRule:
    """How one allowlisted command may be called."""

    name: str
    capabilities: frozenset[str]
    #: Flags the command accepts; ``-la`` is checked as ``-l`` and ``-a`` unless ``long_dash``.
    allowed_flags: frozenset[str]
    forbidden_flags: frozenset[str] = frozenset()
    #: Flags whose value follows (``-n 5``, ``-n5``, ``--lines=5``): the value is not a path.
    value_flags: frozenset[str] = frozenset()
    #: "all": every positional argument is a path; "after_pattern": the first is a pattern
    #: (unless ``-e`` gave it); "none": no argument is a path.
    paths: str = "all"
    long_dash: bool = False  # find-style single-dash words (-name), never split into letters
    needs_network: bool = False


def _rule(
    name: str,
    caps: str,
    allowed: str,
    *,
    forbidden: str = "",
    values: str = "",
    paths: str = "all",
    long_dash: bool = False,
    network: bool = False,
) -> CommandRule:
    w = _words
    return CommandRule(
        name, w(caps), w(allowed), w(forbidden), w(values), paths, long_dash, network
    )


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# OctoLLM's default allowlist (its capability names) plus wc, minus git (nothing to work on in
# an empty scratch dir) and the approval-gated nmap. Flags are allowlisted per command (OctoLLM's
# "ls forbids -exec" belongs to find). curl/wget stay so a refusal can say why: no network.
DEFAULT_RULES: dict[str, CommandRule] = {
    r.name: r
    for r in (
        _rule("echo", "ShellRead", "-n -e -E", paths="none"),
        _rule("cat", "ShellRead FilesystemRead", "-n -b -s -A -E -T -v"),
        _rule("ls", "ShellRead FilesystemRead", "-l -a -A -h -R -1 -t -S -r -d -F -i --all"),
        _rule(
            "head",
            "ShellRead FilesystemRead",
            "-n -c -q -v --lines --bytes",
            values="-n -c --lines --bytes",
        ),
        _rule(
            "tail",
            "ShellRead FilesystemRead",
            "-n -c -q -v --lines --bytes",
            forbidden="-f -F --follow",
            values="-n -c --lines --bytes",
        ),
        _rule(
            "grep",
            "ShellRead",
            "-i -v -n -c -l -L -r -w -x -E -F -o -h -H -s -q -e -m -A -B -C",
            forbidden="-f --file",
            values="-e -m -A -B -C",
            paths="after_pattern",
        ),
        _rule("wc", "ShellRead FilesystemRead", "-l -w -c -m -L"),
        _rule(
            "find",
            "ShellRead FilesystemRead",
            "-name -iname -type -maxdepth -mindepth -size -mtime -mmin -path -ipath -empty "
            "-print -print0 -not -a -o -and -or ! ( )",
            forbidden="-exec -execdir -ok -okdir -delete -fprint -fprint0 -fprintf -fls",
            values="-name -iname -type -maxdepth -mindepth -size -mtime -mmin -path -ipath",
            long_dash=True,
        ),
        _rule(
            "curl",
            "HttpGet",
            "-X -H -d -o --max-time -L -s -v",
            paths="none",
            forbidden="-k --insecure --proxy",
            network=True,
        ),
        _rule(
            "wget",
            "HttpGet",
            "-q -O -T",
            paths="none",
            network=True,
            forbidden="--no-check-certificate --execute -e",
        ),
    )
}


@dataclass(frozen=True)
class Grant:
    """What a capability token's constraints allow: ``allowed_commands``, ``max_duration``."""

    allowed_commands: frozenset[str] | None = None
    max_duration: float | None = None

    @classmethod
    def from_capability(cls, capability: Any) -> Grant:
        """Read ``ctx.services["capability"]``: constraints, or a mapping holding them."""
        if capability is None:
            return cls()
        found = getattr(capability, "constraints", capability)
        constraints = found.get("constraints", found) if isinstance(found, Mapping) else None
        if not isinstance(constraints, Mapping):
            raise ArmRefused("the capability grant has no readable constraints")
        commands = constraints.get("allowed_commands", constraints.get("commands"))
        duration = constraints.get("max_duration")
        return cls(
            frozenset(str(c) for c in commands) if commands is not None else None,
            float(duration) if duration is not None else None,
        )

    def check(self, command: str) -> None:
        names = {command, "python3"} if command == "python" else {command}
        if self.allowed_commands is not None and not names & self.allowed_commands:
            allowed = ", ".join(sorted(self.allowed_commands)) or "none"
            raise ArmRefused(
                f"command {command!r} is not granted by the capability token (granted: {allowed})",
                details={"rule": "capability", "allowed_commands": sorted(self.allowed_commands)},
            )


def refuse_shell_syntax(tokens: Sequence[str]) -> None:
    """Refuse pipes, redirects, separators and substitutions: nothing here is a shell."""
    for token in tokens:
        bad = token in _META_TOKENS or any(p in token for p in _META_PARTS)
        if bad or _REDIRECT.search(token):
            raise ArmRefused(
                f"argument {token!r} is shell syntax; commands run as an argument vector without "
                "a shell, so pipes, redirects, separators and substitutions are not supported",
                details={"rule": "no_shell_syntax", "argument": token},
            )


def check_path(arg: str, command: str) -> None:
    """A path must be relative and stay inside the scratch dir (the working directory)."""
    if arg.startswith(("/", "~")) or ".." in PurePosixPath(arg).parts:
        raise ArmRefused(
            f"path {arg!r} for {command!r} leaves the scratch directory; use a relative path "
            "inside it, without '..'",
            details={"rule": "scratch_paths", "path": arg},
        )


def _flags(token: str, rule: CommandRule) -> list[tuple[str, str | None]]:
    """The flags one token holds, each with its attached value (``-n5``, ``--lines=5``)."""
    if token.startswith("--") or rule.long_dash or len(token) == 2:
        flag, eq, value = token.partition("=")
        return [(flag, value if eq else None)] if flag.startswith("--") else [(token, None)]
    found: list[tuple[str, str | None]] = []
    for i, letter in enumerate(token[1:], start=1):
        flag = "-" + letter
        if flag in rule.value_flags:
            return [*found, (flag, token[i + 1 :] or None)]
        found.append((flag, None))
    return found


def check_command(argv: Sequence[str], rules: Mapping[str, CommandRule] = DEFAULT_RULES) -> None:
    """Apply the allowlist, flag and path rules to an argument vector (pure)."""
    if not argv:
        raise InvalidInput("a shell step needs a command")
    refuse_shell_syntax(argv)
    name, args = argv[0], list(argv[1:])
    rule = rules.get(name)
    if rule is None:
        allowed = ", ".join(sorted(n for n, r in rules.items() if not r.needs_network))
        raise ArmRefused(
            f"command {name!r} is not on the allowlist (allowed: {allowed})",
            details={"rule": "allowlist", "command": name, "allowed_commands": sorted(rules)},
        )
    if rule.needs_network:
        raise ArmRefused(
            f"command {name!r} needs network access, which the executor sandbox does not give",
            details={"rule": "no_network", "command": name},
        )
    positional: list[str] = []
    pattern_given, options_done, i = False, False, 0
    while i < len(args):
        arg = args[i]
        i += 1
        if options_done or arg == "-" or not (arg.startswith("-") or arg in rule.allowed_flags):
            positional.append(arg)
            continue
        if arg == "--":
            options_done = True
            continue
        for flag, value in _flags(arg, rule):
            if flag in rule.forbidden_flags:
                raise ArmRefused(
                    f"flag {flag!r} is forbidden for {name!r}",
                    details={"rule": "forbidden_flag", "command": name, "flag": flag},
                )
            if flag not in rule.allowed_flags:
                raise ArmRefused(
                    f"flag {flag!r} is not allowed for {name!r} "
                    f"(allowed: {' '.join(sorted(rule.allowed_flags))})",
                    details={"rule": "flag_allowlist", "command": name, "flag": flag},
                )
            if flag in rule.value_flags:
                pattern_given = pattern_given or flag == "-e"
                if value is None:
                    if i >= len(args):
                        raise ArmRefused(
                            f"flag {flag!r} of {name!r} needs a value",
                            details={"rule": "flag_value", "command": name, "flag": flag},
                        )
                    i += 1
    if rule.paths == "after_pattern" and not pattern_given:
        positional = positional[1:]
    for arg in positional if rule.paths != "none" else []:
        check_path(arg, name)


def effective_timeout(requested: float, grant: Grant, remaining: float | None) -> float:
    """The wall-time limit: the strictest of the input, the grant and the step's deadline."""
    limits = [requested]
    if grant.max_duration is not None:
        limits.append(grant.max_duration)
    if remaining is not None:
        limits.append(remaining)
    return max(0.1, min(limits))


def code_from_dependencies(dependencies: Mapping[str, Mapping[str, Any]]) -> str:
    """The ``code`` of the first dependency output that has one (a coder step's output)."""
    for step_id, output in dependencies.items():
        code = output.get("code") if isinstance(output, Mapping) else None
        if isinstance(code, str) and code.strip():
            language = str(output.get("language", "python")).lower()
            if language not in {"python", "python3", "py"}:
                raise ArmRefused(
                    f"step {step_id!r} produced {language} code; the executor runs Python only",
                    details={"rule": "language", "language": language},
                )
            return code
    raise InvalidInput("no 'code' in the input and no dependency output has a 'code' field")


def limit_refusal(result: SandboxResult) -> None:
    """A run stopped by a per-run limit of its cgroup is a step error naming the limit."""
    limits = result.limits
    if result.limit_hit == "memory":
        cap = limits["memory_bytes"] // MIB
        raise ArmRefused(
            f"the run was killed: its processes together reached the sandbox memory limit "
            f"({cap} MiB)",
            details={
                "rule": "memory_limit", "security_event": "sandbox_memory_limit",
                "memory_bytes": limits["memory_bytes"], "peak_bytes": result.memory_peak_bytes,
                "stderr": result.stderr[-1000:],
            },
        )  # fmt: skip
    if result.limit_hit == "processes":
        raise ArmRefused(
            f"the run tried to start more than {limits['max_processes']} processes and threads "
            "(the sandbox process limit); it was refused and the run ended",
            details={
                "rule": "process_limit", "security_event": "sandbox_process_limit",
                "max_processes": limits["max_processes"], "stdout": result.stdout[-1000:],
            },
        )  # fmt: skip


def refused_calls(result: SandboxResult) -> list[dict[str, Any]]:
    """Refused system calls the run reported (an uncaught ``[Errno 1]`` in its stderr)."""
    seen = _REFUSED_CALL.findall(result.stderr)
    return [{"kind": "sandbox_refused_call", "evidence": line[:300]} for line in seen[:5]]


@dataclass(frozen=True)
class ExecRequest:
    language: str
    code: str | None
    argv: list[str] | None
    timeout_seconds: float
    stdin: str | None
    calls: list[str]

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ExecRequest:
        language = data.get("language")
        if language is None:  # a step running a code step's output (README's explicit plan)
            language = "shell" if data.get("command") is not None else "python"
        if language not in {"python", "shell"}:
            raise InvalidInput(
                "language must be 'python' or 'shell'",
                details={"field": "language", "value": str(language)[:40]},
            )
        timeout = data.get("timeout_seconds", 30)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise InvalidInput(
                "timeout_seconds must be a number", details={"field": "timeout_seconds"}
            )
        if not 1 <= timeout <= MAX_TIMEOUT_SECONDS:
            raise InvalidInput(
                f"timeout_seconds must be within 1-{MAX_TIMEOUT_SECONDS}",
                details={"field": "timeout_seconds", "min": 1, "max": MAX_TIMEOUT_SECONDS},
            )
        code, command, args, stdin = (data.get(k) for k in ("code", "command", "args", "stdin"))
        for key, value, limit in (
            ("code", code, MAX_CODE_CHARS),
            ("stdin", stdin, MAX_STDIN_CHARS),
        ):
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise InvalidInput(
                    f"{key} must be a string of at most {limit} characters",
                    details={"field": key, "max_length": limit},
                )
        if args is not None and not (
            isinstance(args, list) and all(isinstance(a, str) for a in args)
        ):
            raise InvalidInput("args must be a list of strings", details={"field": "args"})
        argv: list[str] | None = None
        if language == "shell":
            line = command if command is not None else code
            if not isinstance(line, str) or not line.strip():
                raise InvalidInput("a shell step needs 'command' (and optional 'args')")
            try:
                argv = [*shlex.split(line), *(args or [])]
            except ValueError as exc:
                raise InvalidInput(
                    "cannot split the command", details={"field": "command", "error": str(exc)}
                ) from exc
        calls = checks.validate(data.get("calls"))
        if calls and language != "python":
            raise InvalidInput("calls are evaluated after Python code only")
        return cls(language, code, argv, float(timeout), stdin, calls)


class ExecutorArm:
    """Runs code and commands in the sandbox. Collaborators from ``ctx.services``:
    ``sandbox`` (a ``Sandbox``; one is built on first use otherwise) and ``capability``."""

    name = "executor"
    capabilities = frozenset({"python_execution", "shell_execution"})
    #: The sandbox enforces the wall limit (``ctx.remaining()``) itself and forks with a
    #: ``preexec_fn``, which is unsafe from a helper thread: the runner calls it inline.
    enforces_own_limits = True

    def __init__(
        self, sandbox: Sandbox | None = None, rules: Mapping[str, CommandRule] = DEFAULT_RULES
    ) -> None:
        self._sandbox = sandbox
        self.rules = rules

    def sandbox(self, ctx: ArmContext) -> Sandbox:
        given = ctx.services.get("sandbox")
        if isinstance(given, Sandbox):
            return given
        if self._sandbox is None:  # probes the host's isolation once
            self._sandbox = Sandbox.from_settings(get_settings().executor)
        return self._sandbox

    input_model = ExecutorInput
    output_model = ExecutorOutput

    def run(self, input: ExecutorInput, ctx: ArmContext) -> ArmResult[ExecutorOutput]:
        ctx.check_cancelled()
        ctx.ensure_time()
        request = ExecRequest.parse(input.model_dump(exclude_unset=True))
        grant = Grant.from_capability(ctx.services.get("capability"))
        timeout = effective_timeout(request.timeout_seconds, grant, ctx.remaining())
        result: SandboxResult
        if request.argv is None:
            grant.check("python")
            code = request.code or code_from_dependencies(ctx.dependencies)
            code += checks.harness(request.calls)
            result = self.sandbox(ctx).run_python(code, timeout=timeout, stdin=request.stdin)
        else:
            grant.check(request.argv[0])
            check_command(request.argv, self.rules)
            result = self.sandbox(ctx).run_argv(request.argv, timeout=timeout, stdin=request.stdin)
        limit_refusal(result)
        warnings = [f"killed at the {timeout:g} s time limit"] if result.timed_out else []
        warnings += ["output was truncated"] if result.truncated else []
        stdout, check_results = checks.parse_results(result.stdout)
        output = {
            "stdout": stdout,
            "checks": check_results,
            "stderr": result.stderr,
            "exit_code": result.exit_code,
            "signal": result.signal,
            "timed_out": result.timed_out,
            "duration_ms": result.duration_ms,
            "command_hash": result.command_hash,
            "language": request.language,
            "truncated": result.truncated,
            "refused": False,
            "sandbox": {"limits": result.limits, "isolation": result.isolation},
            "security_events": refused_calls(result),
        }
        return ArmResult(output=ExecutorOutput.model_validate(output), warnings=warnings)
