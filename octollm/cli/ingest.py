"""``octollm ingest PATH...``: put documents into a tenant's knowledge base.

1. Collect the files (a directory: every ``.txt``, ``.md``, ``.markdown``, ``.pdf``, ``.html``,
   ``.htm`` below it) and read each into text (``memory.readers``); an unreadable file is
   reported and skipped (exit 2 when none is readable).
2. Start the embedded PostgreSQL and Redis when their URLs are unset (no model: ingesting
   needs none), apply migrations, and start the ``orchestrator`` and ``retriever`` pools
   (``--no-workers``: a fleet is already running against the configured services).
3. Record each document and queue its ingest task: chunking and embedding run on the
   retriever pool. A progress bar follows the documents (measured in characters) to
   ``ready``/``failed``; a table lists them at the end.

Exit codes: 0 every document ready, 1 some failed, 2 invalid input, 4 timed out, 130 Ctrl-C.
The tenant is ``--tenant`` (default ``default``, the tenant ``octollm run`` asks as);
``--shared`` writes the shared curated corpus that opted-in tenants also read.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from octollm.config import Settings, get_settings
from octollm.errors import OctoError
from octollm.memory.readers import TYPES, ReadDocument, read_document
from octollm.orchestrator.runtime import Runtime

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_TIMEOUT = 0, 1, 2, 4
POOLS = ("orchestrator", "retriever")


@dataclass(frozen=True)
class Pending:
    path: Path
    document: ReadDocument
    size_bytes: int


def collect(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The files to read, and a message per path that names nothing readable."""
    found: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            below = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TYPES)
            if not below:
                problems.append(f"{path}: no {', '.join(sorted(TYPES))} files below it")
            found.extend(below)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(f"{path}: no such file or directory")
    return list(dict.fromkeys(found)), problems


def read_all(files: list[Path], title: str | None) -> tuple[list[Pending], list[str]]:
    pending: list[Pending] = []
    problems: list[str] = []
    for path in files:
        try:
            data = path.read_bytes()
            document = read_document(path.name, data, title=title if len(files) == 1 else None)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        except OctoError as exc:
            problems.append(f"{path}: {exc.message}")
            continue
        pending.append(Pending(path, document, len(data)))
    return pending, problems


def _start_workers(settings: Settings, env: dict[str, str], stack: ExitStack) -> list[Any]:
    from octollm.embedded.processes import spawn
    from octollm.orchestrator.broker.fleet import load_fleet, worker_argv

    log_dir = settings.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for pool in load_fleet().values():
        if pool.name not in POOLS:
            continue
        argv = worker_argv(
            pool, settings, loglevel="INFO", hostname=f"{pool.name}@ingest-{os.getpid()}"
        )
        proc = spawn(
            argv,
            env=env,
            log_path=log_dir / f"ingest-worker-{pool.name}.log",
            name=f"worker-{pool.name}",
        )
        stack.callback(proc.stop, 15.0)
        procs.append(proc)
    return procs


def ingest(
    paths: list[Path],
    *,
    tenant: str,
    shared: bool,
    title: str | None,
    data_dir: Path | None,
    workers: bool,
    timeout: float,
    as_json: bool,
) -> int:
    err = Console(stderr=True)
    out = Console(stderr=as_json)
    if shared:
        from octollm.memory.knowledge import SHARED_CORPUS

        tenant = SHARED_CORPUS
    else:
        from octollm.security.apikeys import check_tenant

        try:
            check_tenant(tenant)
        except OctoError as exc:
            err.print(f"[red]{exc.message}[/red]")
            return EXIT_INVALID
    files, problems = collect(paths)
    pending, unreadable = read_all(files, title)
    for problem in (*problems, *unreadable):
        err.print(f"[yellow]skipped {problem}[/yellow]")
    if not pending:
        err.print("[red]nothing to ingest[/red]")
        return EXIT_INVALID

    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:
            rt, procs = _services(settings, workers, stack, err)
            views = _submit_and_follow(
                rt, tenant, pending, timeout, out, quiet=as_json, procs=procs
            )
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: queued documents stay queued; services stopped[/yellow]")
        return 130
    except OctoError as exc:
        err.print(f"[red]{exc.message}[/red]")
        return EXIT_FAILED
    return _report(views, as_json, out)


def _services(
    settings: Settings, workers: bool, stack: ExitStack, err: Console
) -> tuple[Runtime, list[Any]]:
    from octollm.embedded import EmbeddedStack
    from octollm.orchestrator.broker.app import app
    from octollm.store.migrate import upgrade

    with err.status("starting services"):
        needs_model = settings.memory.embedder == "endpoint"
        embedded = stack.enter_context(EmbeddedStack(settings, with_llm=needs_model))
        settings = embedded.settings
        env = {**os.environ, **embedded.env(), "OCTOLLM_LOG__JSON_OUTPUT": "true"}
        os.environ.update(embedded.env())
        get_settings.cache_clear()
        upgrade(settings.require_database_url())
    procs = _start_workers(settings, env, stack) if workers else []
    rt = Runtime.build(app, settings)
    stack.callback(rt.db.dispose)
    return rt, procs


def _submit_and_follow(
    rt: Runtime,
    tenant: str,
    pending: list[Pending],
    timeout: float,
    console: Console,
    *,
    quiet: bool,
    procs: list[Any],
) -> list[dict[str, Any]]:
    from octollm.orchestrator.engine import documents as intake
    from octollm.orchestrator.recovery import reconciler
    from octollm.store import documents as document_repo

    ids: dict[str, Pending] = {}
    for item in pending:
        row = intake.add(
            rt, tenant, item.document, filename=item.path.name, size_bytes=item.size_bytes
        )
        ids[row.id] = item
    total = sum(len(p.document.text) for p in pending)
    progress = Progress(
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("documents ·"),
        TextColumn("{task.fields[chars]} characters"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    )
    started = last_reconcile = time.monotonic()
    interval = rt.settings.orchestrator.reconcile_interval_seconds
    views: dict[str, dict[str, Any]] = {}
    with progress:
        bar = progress.add_task("ingest", total=len(ids), chars=f"0/{total}")
        while True:
            with rt.db.session() as session:
                for document_id in ids:
                    view = document_repo.get(session, tenant, document_id)
                    if view is not None:
                        views[document_id] = _record(view, ids[document_id].path)
            done = [v for v in views.values() if v["status"] != "ingesting"]
            chars = sum(v["chars"] for v in done)
            progress.update(bar, completed=len(done), chars=f"{chars}/{total}")
            if len(done) == len(ids):
                return list(views.values())
            if time.monotonic() - started > timeout:
                for record in views.values():
                    if record["status"] == "ingesting":
                        record["status"] = "timed out"
                return list(views.values())
            dead = next((p for p in procs if not p.alive()), None)
            if dead is not None:
                raise WorkerExited(f"worker {dead.name} exited:\n{dead.log_tail(15)}")
            if time.monotonic() - last_reconcile > interval:
                reconciler.reconcile(rt)
                last_reconcile = time.monotonic()
            time.sleep(0.25)


class WorkerExited(OctoError):
    code = "INGEST_WORKER_EXITED"


def _record(view: Any, path: Path) -> dict[str, Any]:
    return {
        "id": view.id,
        "path": str(path),
        "title": view.title,
        "media_type": view.media_type,
        "chars": view.chars,
        "status": view.status,
        "chunks": view.chunks,
        "task_id": view.task_id,
        "error": view.error,
    }


def _report(views: list[dict[str, Any]], as_json: bool, console: Console) -> int:
    if as_json:
        print(json.dumps({"documents": views}, default=str))
    else:
        table = Table("document", "title", "type", "status", "chunks")
        for v in views:
            colour = {"ready": "green", "failed": "red"}.get(v["status"], "yellow")
            table.add_row(
                v["id"],
                v["title"],
                v["media_type"],
                f"[{colour}]{v['status']}[/{colour}]",
                str(v["chunks"] if v["chunks"] is not None else "-"),
            )
        console.print(table)
    statuses = {v["status"] for v in views}
    if "timed out" in statuses:
        return EXIT_TIMEOUT
    return EXIT_FAILED if "failed" in statuses else EXIT_OK
