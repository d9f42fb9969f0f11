"""The executor sandbox against real hostile processes.

Every test ends by running a normal snippet and checking that nothing of the run is left: the
sandbox and the calling process stay healthy. The isolation claims (network, filesystem, uid)
are checked as root, which is how the executor pool runs; without root they are skipped.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.executor import ExecutorArm
from octollm.errors import ArmRefused
from octollm.security.sandbox import Isolation, Sandbox, SandboxLimits, SandboxResult

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only"),
    pytest.mark.timeout(60),
]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the isolation claims are made as root")


def processes_of(uid: int) -> list[int]:
    """Live pids whose real uid is ``uid``. Killed processes whose parent died wait as zombies
    until init reaps them; they are dead and not counted."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"{entry.path}/status") as fh:
                    fields = dict(line.split(":", 1) for line in fh if ":" in line)
            except OSError:
                continue
            if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
                found.append(int(entry.name))
    return found


def children_of_this_process() -> set[int]:
    me, found = str(os.getpid()), set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"{entry.path}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[1] == me:
                        found.add(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxLimits(wall_seconds=10))


@pytest.fixture
def healthy(sandbox: Sandbox) -> Iterator[list[SandboxResult]]:
    """Collects a test's results; afterwards, no process of theirs is left and a normal
    snippet still runs."""
    results: list[SandboxResult] = []
    before = children_of_this_process()
    yield results
    for result in results:
        if result.isolation["user"] == "dedicated-uid":
            assert processes_of(result.isolation["uid"]) == []
    assert children_of_this_process() <= before
    check = sandbox.run_python("print(sum(range(10)))")
    assert (check.stdout, check.exit_code, check.timed_out) == ("45\n", 0, False)


# Every process forks forever; the first one reports and exits when fork fails.
FORK_LOOP = """
import errno, os
leader = os.getpid()
while True:
    try:
        os.fork()
    except OSError as exc:
        if os.getpid() == leader:
            print("fork failed:", errno.errorcode[exc.errno], flush=True)
            break
"""
# A spawn loop of long sleepers.
SPAWN_LOOP = """
import subprocess, sys
kids = []
try:
    while True:
        kids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
except OSError as exc:
    print("spawn failed after", len(kids), type(exc).__name__, exc.errno, flush=True)
"""
DAEMON = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
print("left a daemon behind")
"""
CONNECT = """
import errno, socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.stdin.read())), timeout=3)
    print("connected")
except OSError as exc:
    print("refused:", errno.errorcode[exc.errno])
"""
SHOW_ENV = """
import json, os, sys
try:
    parent = open(f"/proc/{sys.stdin.read()}/environ", "rb").read().decode(errors="replace")
except OSError as exc:
    parent = type(exc).__name__
print(json.dumps([dict(os.environ), parent]))
"""


def ctx(**kw: object) -> ArmContext:
    return ArmContext(task_id="t1", step_id="s1", attempt=1, goal="run", **kw)  # type: ignore[arg-type]


@as_root
def test_as_root_the_sandbox_gets_network_filesystem_and_uid_isolation(sandbox: Sandbox) -> None:
    assert sandbox.isolation == Isolation(
        network=True, filesystem=True, user="dedicated-uid", seccomp=True,
        limits=sandbox.isolation.limits,
    )  # fmt: skip
    assert sandbox.isolation.limits in {"cgroup-v1", "cgroup-v2", "rlimits"}


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_an_infinite_loop_is_killed_at_the_time_limit_as_a_result_not_an_error(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    arm = ExecutorArm(sandbox)
    out = call(
        arm, {"language": "python", "code": "while True:\n    pass", "timeout_seconds": 1}, ctx()
    )
    assert out.output["timed_out"] is True
    assert out.output["signal"] == "SIGKILL"
    assert out.output["exit_code"] == 137
    assert 1000 <= out.output["duration_ms"] < 3000
    assert out.warnings == ["killed at the 1 s time limit"]


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_the_time_limit_never_exceeds_what_is_left_of_the_step(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    step = ctx(deadline=time.monotonic() + 1.0)
    out = call(
        ExecutorArm(sandbox), {"language": "python", "code": "import time; time.sleep(20)"}, step
    )
    assert out.output["timed_out"] is True
    assert out.output["duration_ms"] < 2500


@as_root
@pytest.mark.parametrize(
    ("bomb", "report"),
    [
        (FORK_LOOP, r"fork failed: EAGAIN\n"),
        (SPAWN_LOOP, r"spawn failed after ([1-2][0-9]|3[01]|[1-9]) BlockingIOError 11\n"),
    ],
    ids=["fork-loop", "spawn-loop"],
)
def test_a_fork_bomb_is_contained_by_the_process_limit_and_leaves_nothing_behind(
    sandbox: Sandbox, healthy: list[SandboxResult], bomb: str, report: str
) -> None:
    result = sandbox.run_python(bomb, timeout=10)
    healthy.append(result)
    assert not result.timed_out
    assert re.fullmatch(report, result.stdout)
    assert processes_of(result.isolation["uid"]) == []


@as_root
def test_a_daemonised_process_does_not_outlive_the_run(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    result = sandbox.run_python(DAEMON)
    healthy.append(result)
    assert result.stdout == "left a daemon behind\n"
    assert processes_of(result.isolation["uid"]) == []


def test_a_2_gib_allocation_fails_cleanly_with_memory_error(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    small = sandbox.run_python("b = bytearray(100 * 1024 * 1024); print(len(b))")
    big = sandbox.run_python("b = bytearray(2 * 1024 ** 3); print('allocated')")
    healthy.extend([small, big])
    assert small.stdout == "104857600\n"
    assert big.exit_code == 1
    assert big.stdout == ""
    assert big.stderr.strip().endswith("MemoryError")
    assert not big.timed_out


@as_root
def test_writing_outside_the_scratch_dir_fails_and_tmp_is_private_to_the_run(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    tag = uuid.uuid4().hex
    host_file = f"/tmp/octollm-host-{tag}"
    with open(host_file, "w") as fh:
        fh.write("host data")
    targets = [
        "/etc/octollm-test",
        "/root/x",
        "/usr/local/octollm-x",
        f"/var/tmp/octollm-{tag}",
        f"/tmp/octollm-{tag}",
        f"/dev/shm/octollm-{tag}",
        "inside.txt",
    ]
    code = (
        "import errno, json, os\nres = {}\n"
        f"for path in {targets!r}:\n"
        "    try:\n        open(path, 'w').write('x')\n        res[path] = 'written'\n"
        "    except OSError as exc:\n        res[path] = errno.errorcode[exc.errno]\n"
        f"res['host_tmp_visible'] = os.path.exists({host_file!r})\n"
        "res['cwd'] = os.getcwd()\nprint(json.dumps(res))\n"
    )
    try:
        result = sandbox.run_python(code)
    finally:
        os.unlink(host_file)
    healthy.append(result)
    seen = json.loads(result.stdout)
    # the run's own root is read-only; host directories it does not hold do not exist
    assert seen["/etc/octollm-test"] == "EROFS"
    assert seen["/root/x"] in {"EACCES", "EROFS", "ENOENT"}
    assert seen["/usr/local/octollm-x"] in {"EROFS", "ENOENT"}
    assert seen[f"/var/tmp/octollm-{tag}"] == "ENOENT"  # world-writable on the host, not here
    assert seen["inside.txt"] == "written"
    # /tmp and /dev/shm are fresh tmpfs mounts of this run: writable, invisible to the host
    assert seen[f"/tmp/octollm-{tag}"] == "written"
    assert seen[f"/dev/shm/octollm-{tag}"] == "written"
    assert seen["host_tmp_visible"] is False
    for path in ["/etc/octollm-test", f"/tmp/octollm-{tag}", f"/dev/shm/octollm-{tag}"]:
        assert not os.path.exists(path)
    assert not os.path.exists(seen["cwd"])  # the scratch dir is gone


@as_root
def test_a_connection_to_a_loopback_listener_of_the_host_fails(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            listener.accept()[0].close()  # the listener works from the host's namespace
        result = sandbox.run_python(CONNECT, stdin=str(port))
        healthy.append(result)
        with pytest.raises(TimeoutError):
            listener.accept()
    assert result.stdout == "refused: EPERM\n"  # socket(AF_INET) itself: the seccomp filter


def test_without_a_network_namespace_network_code_and_commands_are_refused(
    healthy: list[SandboxResult],
) -> None:
    bare = Sandbox(isolation=Isolation(network=False, filesystem=False, user="none"))
    with pytest.raises(ArmRefused, match="imports socket, urllib, which can use the network"):
        bare.run_python("import socket\nimport urllib.request\n")
    with pytest.raises(ArmRefused, match="command 'curl' uses the network"):
        bare.run_argv(["curl", "http://127.0.0.1:9/"])


def test_a_command_off_the_allowlist_is_refused_and_nothing_runs(
    sandbox: Sandbox, healthy: list[SandboxResult], tmp_path: object
) -> None:
    arm = ExecutorArm(sandbox)
    with pytest.raises(ArmRefused, match=r"command 'rm' is not on the allowlist \(allowed: cat,"):
        call(arm, {"language": "shell", "command": "rm", "args": ["-rf", "/"]}, ctx())
    out = call(
        arm,
        {"language": "shell", "command": "grep", "args": ["-c", "b"], "stdin": "a\nb\nbb\n"},
        ctx(),
    )
    assert (out.output["stdout"], out.output["exit_code"], out.output["refused"]) == (
        "2\n",
        0,
        False,
    )


def test_a_secret_in_the_parents_environment_is_not_visible_inside(
    sandbox: Sandbox, healthy: list[SandboxResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OCTOLLM_LLM__API_KEY", "sk-octollm-test-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-test-secret")
    result = sandbox.run_python(SHOW_ENV, stdin=str(os.getpid()))
    healthy.append(result)
    env, parent = json.loads(result.stdout)
    assert "secret" not in result.stdout
    assert sorted(env) == [
        "HOME", "LANG", "LC_ALL", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE",
        "PYTHONUNBUFFERED", "TMPDIR",
    ]  # fmt: skip
    if sandbox.isolation.user == "dedicated-uid":
        assert parent in {"PermissionError", "FileNotFoundError"}  # nor the parent's environment


def test_output_beyond_the_cap_is_truncated_and_flagged(
    sandbox: Sandbox, healthy: list[SandboxResult]
) -> None:
    result = sandbox.run_python(
        "import sys\nsys.stdout.write('x' * 200_000)\nprint('tail', file=sys.stderr)"
    )
    healthy.append(result)
    assert result.truncated is True
    assert len(result.stdout) == 64 * 1024
    assert result.stderr == "tail\n"
    assert result.exit_code == 0


@as_root
def test_only_allowlisted_packages_of_the_environment_are_importable(
    healthy: list[SandboxResult],
) -> None:
    code = (
        "import importlib.util, os, sys\n"
        "print([n for n in ('yaml', 'pydantic', 'celery') if importlib.util.find_spec(n)])\n"
        "import yaml\nprint(sorted(os.listdir(os.path.dirname(os.path.dirname(yaml.__file__)))))"
    )
    result = Sandbox(SandboxLimits(wall_seconds=10), packages=["yaml"]).run_python(code)
    healthy.append(result)
    assert result.stdout == "['yaml']\n['yaml']\n", result.stderr
