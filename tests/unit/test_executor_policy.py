"""The executor's allowlist, flag, path and grant rules: pure checks, nothing runs."""

from __future__ import annotations

import time
from typing import Any

import pytest

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.executor import (
    ExecRequest,
    ExecutorArm,
    Grant,
    check_command,
    code_from_dependencies,
    effective_timeout,
)
from octollm.errors import ArmRefused, InvalidInput
from octollm.security.sandbox import command_hash, network_imports


def ctx(**kw: object) -> ArmContext:
    return ArmContext(task_id="t1", step_id="s1", attempt=1, goal="run it", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "argv",
    [
        ["echo", "hello", "world"],
        ["echo", "-n", "no newline"],
        ["ls", "-la", "sub/dir"],
        ["ls", "--all"],
        ["cat", "-n", "notes.txt"],
        ["head", "-n", "5", "data.csv"],
        ["head", "-n5", "data.csv"],
        ["tail", "--lines=3", "log.txt"],
        ["grep", "-in", "error", "log.txt"],
        ["grep", "-e", "a|b", "-E", "x.txt"],
        ["grep", "-c", "/etc/passwd-looking-pattern"],
        ["wc", "-l"],
        ["find", ".", "-maxdepth", "2", "-name", "*.py", "-type", "f"],
        ["find", ".", "!", "-name", "*.pyc", "-o", "-empty"],
        ["cat", "--", "-odd-name.txt"],
    ],
)
def test_allowlisted_commands_with_allowed_flags_and_relative_paths_pass(argv: list[str]) -> None:
    check_command(argv)


def test_a_command_off_the_allowlist_is_refused_naming_the_rule_and_the_allowed_commands() -> None:
    with pytest.raises(ArmRefused) as info:
        check_command(["rm", "-rf", "data"])
    assert str(info.value).startswith("command 'rm' is not on the allowlist (allowed: cat, echo,")
    assert info.value.details["rule"] == "allowlist"


@pytest.mark.parametrize("command", ["python3", "bash", "sh", "env", "sudo", "/bin/ls", "chmod"])
def test_interpreters_shells_and_absolute_program_paths_are_not_on_the_allowlist(
    command: str,
) -> None:
    with pytest.raises(ArmRefused, match="is not on the allowlist"):
        check_command([command, "x"])


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["find", ".", "-exec", "cat", "{}", "+"], "-exec"),
        (["find", ".", "-execdir", "cat", "{}", "+"], "-execdir"),
        (["find", ".", "-delete"], "-delete"),
        (["find", ".", "-fprint", "out"], "-fprint"),
        (["tail", "-f", "log.txt"], "-f"),
        (["grep", "-f", "patterns.txt", "x"], "-f"),
    ],
)
def test_forbidden_flags_are_refused(argv: list[str], flag: str) -> None:
    with pytest.raises(ArmRefused, match=f"flag '{flag}' is forbidden for '{argv[0]}'"):
        check_command(argv)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["ls", "-lZ"], "-Z"),
        (["ls", "-exec"], "-e"),
        (["cat", "--show-all"], "--show-all"),
        (["find", ".", "-newer", "x"], "-newer"),
    ],
)
def test_flags_outside_a_commands_allowlist_are_refused(argv: list[str], flag: str) -> None:
    with pytest.raises(ArmRefused, match=f"flag '{flag}' is not allowed for '{argv[0]}'"):
        check_command(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["cat", "/etc/passwd"],
        ["ls", "/root"],
        ["cat", "../secrets"],
        ["head", "-n", "1", "a/../../b"],
        ["wc", "~/.ssh/id_rsa"],
        ["grep", "x", "/etc/shadow"],
        ["find", "/", "-name", "x"],
        ["cat", "--", "/etc/hosts"],
    ],
)
def test_paths_outside_the_scratch_directory_are_refused(argv: list[str]) -> None:
    with pytest.raises(ArmRefused, match="leaves the scratch directory"):
        check_command(argv)


def test_values_of_value_flags_and_grep_patterns_are_not_taken_for_paths() -> None:
    check_command(["find", ".", "-path", "/abs/pattern/*"])
    check_command(["grep", "/usr/lib", "notes.txt"])
    check_command(["grep", "-e", "/usr/lib", "notes.txt"])
    with pytest.raises(ArmRefused, match="leaves the scratch directory"):
        check_command(["grep", "-e", "/usr/lib", "/etc/hosts"])


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "|", "grep", "x"],
        ["echo", "hi", ">", "out.txt"],
        ["echo", "hi", "2>/dev/null"],
        ["echo", "$(id)"],
        ["echo", "`id`"],
        ["echo", "${HOME}"],
        ["ls", ";", "rm", "x"],
        ["ls", "&&", "id"],
        ["echo", "two\nlines"],
    ],
)
def test_shell_syntax_is_refused_because_nothing_runs_through_a_shell(argv: list[str]) -> None:
    with pytest.raises(ArmRefused, match="is shell syntax"):
        check_command(argv)


@pytest.mark.parametrize("command", ["curl", "wget"])
def test_curl_and_wget_are_refused_because_the_sandbox_has_no_network(command: str) -> None:
    with pytest.raises(ArmRefused, match="needs network access"):
        check_command([command, "https://pypi.org"])


def test_a_flag_that_needs_a_value_without_one_is_refused() -> None:
    with pytest.raises(ArmRefused, match="needs a value"):
        check_command(["head", "-n"])


def test_a_capability_grant_narrows_the_commands_and_the_time() -> None:
    grant = Grant.from_capability({"constraints": {"allowed_commands": ["ls"], "max_duration": 5}})
    grant.check("ls")
    with pytest.raises(
        ArmRefused, match=r"'cat' is not granted by the capability token \(granted: ls\)"
    ):
        grant.check("cat")
    assert effective_timeout(30, grant, None) == 5
    assert effective_timeout(3, grant, None) == 3
    assert effective_timeout(30, grant, 2.5) == 2.5
    assert effective_timeout(30, Grant(), None) == 30


def test_python_needs_python_in_a_grant_that_lists_commands() -> None:
    Grant.from_capability({"allowed_commands": ["python3"]}).check("python")
    with pytest.raises(ArmRefused, match="'python' is not granted"):
        Grant.from_capability({"commands": ["ls"]}).check("python")


def test_the_arm_refuses_before_building_a_sandbox() -> None:
    arm = ExecutorArm()
    capability = {"constraints": {"allowed_commands": ["echo"]}}
    with pytest.raises(ArmRefused, match="not granted"):
        call(arm, {"language": "shell", "command": "ls"}, ctx(services={"capability": capability}))
    with pytest.raises(ArmRefused, match="not on the allowlist"):
        call(arm, {"language": "shell", "command": "rm -rf /"}, ctx())
    assert arm._sandbox is None


def test_the_arm_stops_at_once_when_the_step_deadline_has_passed() -> None:
    from octollm.errors import StepTimeout

    with pytest.raises(StepTimeout):
        call(ExecutorArm(), {"language": "python", "code": "1"}, ctx(deadline=time.monotonic() - 1))


def test_python_code_comes_from_the_first_dependency_that_has_code() -> None:
    deps: dict[str, dict[str, Any]] = {
        "plan": {"steps": []},
        "gap": {"_gap": {"status": "failed"}},
        "coder": {"code": "print(1)"},
    }
    assert code_from_dependencies(deps) == "print(1)"
    with pytest.raises(InvalidInput, match="no dependency output has a 'code' field"):
        code_from_dependencies({"plan": {"steps": []}})
    with pytest.raises(ArmRefused, match="produced rust code"):
        code_from_dependencies({"coder": {"code": "fn main() {}", "language": "rust"}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"language": "ruby", "code": "1"}, "language must be"),
        ({"language": "python", "timeout_seconds": 0}, "within 1-300"),
        ({"language": "python", "timeout_seconds": 301}, "within 1-300"),
        ({"language": "python", "timeout_seconds": True}, "must be a number"),
        ({"language": "shell"}, "needs 'command'"),
        ({"language": "shell", "command": "ls", "args": "-la"}, "args must be a list"),
        ({"language": "shell", "command": "echo 'unclosed"}, "cannot split"),
    ],
)
def test_malformed_input_is_invalid_input(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ExecRequest.parse(data)


def test_a_shell_command_line_is_split_into_an_argument_vector() -> None:
    request = ExecRequest.parse(
        {"language": "shell", "command": "grep -c 'a b'", "args": ["f.txt"]}
    )
    assert request.argv == ["grep", "-c", "a b", "f.txt"]
    assert request.timeout_seconds == 30


def test_network_imports_are_found_by_static_scan() -> None:
    assert network_imports("import socket\nfrom urllib.request import urlopen") == {
        "socket",
        "urllib",
    }
    assert network_imports("__import__('so' + 'cket')") == {"__import__"}
    assert network_imports("import json, math\nprint(1)") == set()
    assert network_imports("this is not python") == set()


def test_the_command_hash_covers_the_command_and_each_argument() -> None:
    assert command_hash(["ls", "-la"]) != command_hash(["ls", "-l", "a"])
    assert len(command_hash(["echo"])) == 64


def test_an_executor_step_without_a_language_runs_its_dependency_as_python() -> None:
    assert ExecRequest.parse({}).language == "python"
    assert ExecRequest.parse({"command": "ls"}).language == "shell"
    request = ExecRequest.parse({"calls": ["is_prime(2)"]})
    assert (request.language, request.calls) == ("python", ["is_prime(2)"])


def test_the_seccomp_filter_is_a_bpf_program_ending_in_allow_or_errno() -> None:
    import struct

    from octollm.security import seccomp_filter

    program = seccomp_filter.build("x86_64")
    assert program is not None
    assert len(program) % 8 == 0
    ops = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    rets = {k for code, _, _, k in ops if code == seccomp_filter.RET}
    assert rets == {
        seccomp_filter.RET_ALLOW,
        seccomp_filter.RET_ERRNO | 1,  # EPERM
        seccomp_filter.RET_ERRNO | 38,  # ENOSYS, for clone3
    }
    assert seccomp_filter.build("sparc") is None


def test_a_symlink_chain_is_followed_to_the_real_file(tmp_path: Any) -> None:
    from octollm.security.rootfs import symlink_chain

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "python3.11").write_text("")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "bin" / "python").symlink_to("python3")
    (tmp_path / "venv" / "bin" / "python3").symlink_to(tmp_path / "real" / "python3.11")
    links, real = symlink_chain(str(tmp_path / "venv" / "bin" / "python"))
    assert real == str((tmp_path / "real" / "python3.11").resolve())
    assert [target for _, target in links] == ["python3", str(tmp_path / "real" / "python3.11")]


def test_the_sandbox_limits_follow_the_executor_settings() -> None:
    from octollm.config.executor import ExecutorSettings
    from octollm.security.sandbox import MIB, SandboxLimits

    limits = SandboxLimits.from_settings(ExecutorSettings(memory_mib=256, scratch_mib=8, cpus=0.5))
    assert (limits.memory_bytes, limits.scratch_bytes, limits.cpus) == (256 * MIB, 8 * MIB, 0.5)
