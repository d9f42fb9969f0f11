"""The ``octollm`` command: thin commands over the orchestrator, the fleet and the services."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from octollm.cli import config, deadletters, fleetview, keys, tasks, tenants, webhooks
from octollm.config import get_settings
from octollm.errors import ConfigurationError, OctoError

app = typer.Typer(
    name="octollm",
    help="OctoLLM's integration patterns on Celery: submit LLM-agent tasks, run arm worker "
    "pools, watch them.\n\nWith no OCTOLLM_* service URLs set, `octollm run` starts an embedded "
    "PostgreSQL, Redis and a local LLM for you.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
app.add_typer(keys.app, name="keys")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(tasks.app, name="tasks")
app.add_typer(deadletters.app, name="deadletters")
app.add_typer(fleetview.queues_app, name="queues")
app.add_typer(config.app, name="config")
app.add_typer(tenants.app, name="tenants")
err = Console(stderr=True)

PriorityOpt = Annotated[
    str, typer.Option("--priority", "-p", help="low | medium | high | critical (queue urgency).")
]


@app.command()
def run(
    goal: Annotated[
        str | None, typer.Argument(help="What to achieve (10-2000 characters).")
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="JSON file with an explicit plan {steps: [...]}; skips the planner."
        ),
    ] = None,
    priority: PriorityOpt = "medium",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the final task record as one JSON document on stdout."),
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where embedded services keep data and logs.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting after this many seconds (exit 4).")
    ] = 1800.0,
) -> None:
    """Run one task end to end: start what is missing, run the worker fleet, show progress.

    Exit codes: 0 completed, 1 failed, 2 invalid input, 3 cancelled, 4 timed out, 130 Ctrl-C.

    Example: octollm run "Write a Python function is_prime(n) and check it on 2, 15 and 17"
    """
    from octollm.cli.run import run as run_task

    if goal is None and plan is None:
        err.print("[red]give a GOAL or --plan FILE[/red]")
        raise typer.Exit(2)
    raise typer.Exit(run_task(goal, plan, priority, as_json, data_dir, timeout))


@app.command()
def submit(
    goal: Annotated[str | None, typer.Argument(help="What to achieve.")] = None,
    plan: Annotated[Path | None, typer.Option("--plan", help="JSON plan file.")] = None,
    priority: PriorityOpt = "medium",
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Submit as this tenant.")] = (
        "default"
    ),
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Repeat within 24 h: the same task, as the API."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Skip the result cache.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Submit a task to the configured services (OCTOLLM_DATABASE__URL, OCTOLLM_BROKER__URL)
    and print its id; workers started with `octollm worker` run it.

    The same path as POST /api/v1/tasks: input screening (OCTOLLM_API__SCREENING and the
    tenant's policy), the tenant's submit rate limit, the result cache and the idempotency key.
    A refused request exits 2 with the reason."""
    from pydantic import ValidationError

    from octollm.api.schemas import TaskSubmission
    from octollm.api.submission import LocalIntake, submit_local
    from octollm.cli.run import build_contract, format_validation_error
    from octollm.orchestrator.broker.app import app as celery_app

    intake: LocalIntake | None = None
    try:
        contract = build_contract(goal, plan, priority)
        submission = TaskSubmission.model_validate(
            contract.model_dump(mode="json", exclude={"task_id", "created_at"})
        )
        intake = LocalIntake.build(celery_app, get_settings())
        outcome = submit_local(
            intake,
            tenant,
            submission,
            idempotency_key=idempotency_key,
            use_cache=not no_cache,
        )
    except ValidationError as exc:
        err.print(f"error: {format_validation_error(exc)}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except (OctoError, RuntimeError) as exc:
        err.print(f"error: {getattr(exc, 'message', exc)}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        if intake is not None:
            intake.close()
    accepted = outcome.accepted
    report = accepted.screening
    if report is not None and report.action != "passed":
        found = ", ".join(sorted({f"{f.field}: {f.subtype}" for f in report.findings}))
        err.print(f"screening {report.action}: {found}", markup=False, highlight=False)
    if as_json:
        print(accepted.model_dump_json(exclude_none=True))
    else:
        print(accepted.task_id)


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files or directories (.txt .md .pdf .html).")
    ],
    tenant: Annotated[
        str,
        typer.Option(
            "--tenant", "-t", help="Whose knowledge base (octollm run asks as 'default')."
        ),
    ] = "default",
    shared: Annotated[
        bool,
        typer.Option(
            "--shared", help="Write the shared curated corpus (read by opted-in tenants)."
        ),
    ] = False,
    title: Annotated[
        str | None, typer.Option("--title", help="Title of a single document.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where embedded services keep data and logs.")
    ] = None,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Start the retriever pool here.")
    ] = True,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting after this many seconds.")
    ] = 1800.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the documents as JSON.")] = False,
) -> None:
    """Put documents into a tenant's knowledge base; the retriever pool chunks and embeds them.

    Exit codes: 0 all ready, 1 some failed, 2 invalid input, 4 timed out.

    Example: octollm ingest docs/handbook.md policies/ && octollm run "What is the refund policy?"
    """
    from octollm.cli.ingest import ingest as ingest_documents

    raise typer.Exit(
        ingest_documents(
            paths,
            tenant=tenant,
            shared=shared,
            title=title,
            data_dir=data_dir,
            workers=workers,
            timeout=timeout,
            as_json=as_json,
        )
    )


@app.command()
def status(
    task_id: Annotated[str, typer.Argument(help="task-<uuid>")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Only if its tenant.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the task record as JSON.")] = False,
) -> None:
    """Show a task: its steps, answer, verdict and error (same as `octollm tasks show`).

    Works after an embedded `octollm run` too: with no OCTOLLM_DATABASE__URL it reads the
    embedded PostgreSQL in the data directory."""
    tasks.show_task(task_id, tenant, as_json, dag=False)


@app.command()
def show(
    task_id: Annotated[str, typer.Argument(help="task-<uuid>")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Only if its tenant.")
    ] = None,
    dag: Annotated[bool, typer.Option("--dag", help="Also draw the plan's DAG.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the task record as JSON.")] = False,
) -> None:
    """A task's step tree with its answer and verdict; `--dag` draws the plan's levels."""
    tasks.show_task(task_id, tenant, as_json, dag)


@app.command()
def arms(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    tenant: Annotated[
        str | None,
        typer.Option(
            "--tenant", "-t", help="Also the arms registered through the API that it sees."
        ),
    ] = None,
) -> None:
    """The arms this installation knows, their capabilities and live health (from the
    workers' heartbeats); `--tenant` adds the API registrations that tenant sees, as
    `GET /api/v1/arms` shows them to its keys."""
    fleetview.arms(as_json, tenant)


@app.command()
def workers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for replies.")] = 2.0,
) -> None:
    """Running workers (Celery inspect): name and host, pool, concurrency, uptime, queues.

    Exit 1 when no worker answers."""
    raise typer.Exit(fleetview.workers(as_json, timeout))


@app.command()
def worker(
    pool: Annotated[str, typer.Argument(help="Pool name from the fleet file (e.g. coder).")],
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
) -> None:
    """Start one worker of POOL: its arm's queues, most urgent first (replaces this process).

    Metrics go to PROMETHEUS_MULTIPROC_DIR (default: <data dir>/prometheus, shared by the
    host's workers and served by `octollm metrics`)."""
    from octollm.observability.exposition import prepare_multiprocess_dir
    from octollm.orchestrator.broker.fleet import load_fleet, worker_argv

    pools = load_fleet()
    if pool not in pools:
        err.print(f"[red]unknown pool {pool!r}; pools: {', '.join(pools)}[/red]")
        raise typer.Exit(2)
    settings = get_settings()
    settings.redis_url()  # the event bus: a worker without one is refused at start, not silent
    argv = worker_argv(pools[pool], settings, loglevel=loglevel)
    prepare_multiprocess_dir(settings)
    os.execv(argv[0], argv)


@app.command()
def fleet() -> None:
    """List the worker pools of the fleet file (OCTOLLM_FLEET_FILE, or the shipped default)
    with their queues and start commands."""
    from octollm.orchestrator.broker import queues as routing
    from octollm.orchestrator.broker.fleet import fleet_path, load_fleet

    settings = get_settings()
    broker = settings.broker.url.get_secret_value() if settings.broker.url else "redis://"
    out = Console(soft_wrap=True, highlight=False)
    out.print(f"worker fleet ({fleet_path()})", style="bold")
    for p in load_fleet().values():
        queues = routing.queue_names_for(settings.queue_prefix, list(p.arms), broker)
        out.print(
            f"{p.name}: {p.pool} x{p.concurrency}, prefetch {p.prefetch}, "
            f"{fleetview.time_limit_text(p, settings.orchestrator.step_time_limit_seconds)}"
            f" — start with `octollm worker {p.name}`"
        )
        # Whole queue names, one per line: operators copy them (never cut to "octollm…").
        for queue in queues:
            out.print(f"    {queue}")
    from octollm.security.sandbox import per_run_limits

    mode, reason = per_run_limits()
    note = f"per-process rlimits only ({reason})" if mode == "rlimits" else f"per run ({mode})"
    Console().print(f"executor sandbox limits on this host: {note}")


@app.command()
def beat(loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO") -> None:
    """Start celery beat: schedules the reconciler (replaces this process)."""
    schedule = get_settings().data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "--quiet",  # no banner: every line beat writes is a log line (JSON off a terminal)
        "-A",
        "octollm.worker.app",
        "beat",
        "-l",
        loglevel,
        "-s",
        str(schedule),
    ]
    os.execv(argv[0], argv)


@app.command()
def migrate() -> None:
    """Apply database migrations (all Alembic heads) to OCTOLLM_DATABASE__URL."""
    from octollm.store.migrate import current, upgrade

    try:
        url = get_settings().require_database_url()
    except ConfigurationError as exc:
        err.print(exc.message, style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    upgrade(url)
    print("migrated to", ", ".join(current(url)))


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes sharing the port (each sheds load past "
            "OCTOLLM_API__MAX_IN_FLIGHT requests with 503 + Retry-After).",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (FastAPI under uvicorn)."""
    from octollm.api.server import serve

    settings = get_settings()
    settings.redis_url()  # the event bus (SSE, webhooks): refused at start when missing
    if workers > 1:
        from octollm.observability.exposition import prepare_multiprocess_dir

        # Every process's counters in each one's GET /metrics (prometheus multiprocess mode).
        prepare_multiprocess_dir(settings)
    serve(settings, host, port, workers)


@app.command()
def flower(
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow starting without authentication.")
    ] = False,
    if_configured: Annotated[
        bool,
        typer.Option(
            "--if-configured",
            help="Without credentials, say how to set them and wait instead of failing "
            "(the Procfile uses this, so the rest of the fleet keeps running).",
        ),
    ] = False,
) -> None:
    """Start Flower on 127.0.0.1 with basic auth from settings (refuses without credentials).

    Address, port and credentials come from the OCTOLLM_FLOWER__* settings."""
    from octollm.observability.flower import FlowerCredentialsMissing, run_flower

    try:
        code = run_flower(get_settings(), insecure=insecure)
    except FlowerCredentialsMissing as exc:
        if not if_configured:
            err.print(f"error: {exc.message}", markup=False, highlight=False)
            raise typer.Exit(2) from None
        err.print(f"flower not started: {exc.message}", markup=False, highlight=False)
        import contextlib
        import signal

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
        raise typer.Exit(0) from None
    except OctoError as exc:
        err.print(f"error: {exc.message}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def metrics(
    port: Annotated[int, typer.Option(help="Port of /metrics.")] = 9108,
    address: Annotated[
        str | None, typer.Option(help="Bind address (default: metrics.address, 127.0.0.1).")
    ] = None,
) -> None:
    """Serve Prometheus metrics: every queue's depth and this host's workers' metrics.

    Worker metrics are read from PROMETHEUS_MULTIPROC_DIR (default: <data dir>/prometheus,
    where `octollm worker` writes them). Runs until Ctrl-C."""
    import time

    from octollm.observability.exposition import prepare_multiprocess_dir, start_exporter

    settings = get_settings()
    directory = prepare_multiprocess_dir(settings)
    try:
        server, _ = start_exporter(settings, port=port, address=address)
    except (OSError, RuntimeError) as exc:
        err.print(f"[red]cannot serve metrics: {exc}[/red]")
        raise typer.Exit(2) from None
    host, bound = server.server_address[:2]
    err.print(f"serving http://{host}:{bound}/metrics (worker metrics from {directory})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


_debug = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"octollm {version('octollm')}")
        raise typer.Exit()


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    from octollm.logging import configure_logging

    global _debug
    _debug = debug
    settings = get_settings()
    level = (
        "DEBUG" if verbose else ("WARNING" if settings.log.level == "INFO" else settings.log.level)
    )
    configure_logging(level, json_output=settings.log.json_output)


def main() -> None:
    """The console script: a failing command prints one line (``--debug``: the traceback)."""
    from octollm.cli.failures import describe
    from octollm.cli.flags import plain_flags

    try:
        plain_flags(typer.main.get_command(app))(standalone_mode=True)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if _debug or "--debug" in sys.argv[1:]:
            raise
        line, code = describe(exc)
        err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
