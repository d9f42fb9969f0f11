"""``octollm run``: start what is missing, run one task through the worker fleet, show it.

1. Validate the goal and plan (a bad input exits 2 before anything starts or is written).
2. Start the embedded services whose URLs are unset (PostgreSQL, Redis, the local LLM) and
   apply migrations.
3. Start one ``celery worker`` subprocess per pool of the fleet file (``broker/fleet.toml``),
   writing their metrics to ``PROMETHEUS_MULTIPROC_DIR`` (default ``<data dir>/prometheus``).
4. Submit, render progress from Postgres, run the reconciler in-process meanwhile (no beat
   needed for a single run), print the result.
5. Stop workers and services in reverse order — also on Ctrl-C, which cancels the task.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext, suppress
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live

from octollm.config import Settings, get_settings
from octollm.contracts import TaskContract
from octollm.contracts.problems import one_line
from octollm.contracts.status import TERMINAL_TASK_STATUSES
from octollm.errors import OctoError
from octollm.observability.exposition import prepare_multiprocess_dir
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.recovery import reconciler
from octollm.orchestrator.runtime import Runtime

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_CANCELLED, EXIT_TIMEOUT = 0, 1, 2, 3, 4


def build_contract(goal: str | None, plan_file: Path | None, priority: str) -> TaskContract:
    """Validate CLI input into a contract; raises ``OctoError``/``ValidationError`` on bad input."""
    data: dict[str, Any] = {"priority": priority.lower()}
    if plan_file is not None:
        try:
            plan_doc = json.loads(plan_file.read_text())
        except FileNotFoundError:
            from octollm.errors import InvalidInput

            raise InvalidInput(
                f"plan file {plan_file} does not exist",
                details={"field": "plan", "path": str(plan_file)},
            ) from None
        except json.JSONDecodeError as exc:
            from octollm.errors import InvalidInput

            raise InvalidInput(
                f"plan file {plan_file} is not valid JSON: {exc.msg}",
                details={
                    "field": "plan",
                    "path": str(plan_file),
                    "line": exc.lineno,
                    "column": exc.colno,
                },
            ) from None
        if isinstance(plan_doc, dict) and "steps" not in plan_doc and "plan" in plan_doc:
            plan_doc = plan_doc["plan"]
        data["plan"] = plan_doc
        data["goal"] = (
            goal
            or (plan_doc.get("goal") if isinstance(plan_doc, dict) else None)
            or (f"Run the plan in {plan_file.name}")
        )
    else:
        data["goal"] = goal
    contract = TaskContract.model_validate(data)
    if contract.plan is not None:
        lifecycle.validate_plan(contract.plan)
    return contract


def format_validation_error(exc: ValidationError) -> str:
    return f"invalid input: {one_line(exc)}"


#: Set by the SIGINT/SIGTERM handler. Its KeyboardInterrupt can be swallowed: one that lands in
#: an at-fork hook while a worker or PostgreSQL is being spawned ("Exception ignored in
#: _releaseLock") is lost, so the run checks this flag between its stages and while it follows.
_interrupted = threading.Event()


def _on_signal(*_: Any) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


def _raise_if_interrupted() -> None:
    if _interrupted.is_set():
        raise KeyboardInterrupt


def _start_workers(
    settings: Settings, env: dict[str, str], log_dir: Path, stack: ExitStack
) -> list[Any]:
    from octollm.embedded.processes import spawn
    from octollm.orchestrator.broker.fleet import load_fleet, worker_argv

    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for pool in load_fleet().values():
        argv = worker_argv(
            pool, settings, loglevel="INFO", hostname=f"{pool.name}@run-{os.getpid()}"
        )
        proc = spawn(
            argv, env=env, log_path=log_dir / f"worker-{pool.name}.log", name=f"worker-{pool.name}"
        )
        stack.callback(proc.stop, 15.0)
        procs.append(proc)
    return procs


def run(
    goal: str | None,
    plan_file: Path | None,
    priority: str,
    as_json: bool,
    data_dir: Path | None,
    timeout: float,
) -> int:
    out = Console(stderr=as_json)
    err = Console(stderr=True)
    try:
        contract = build_contract(goal, plan_file, priority)
    except ValidationError as exc:
        err.print(f"[red]{format_validation_error(exc)}[/red]")
        return EXIT_INVALID
    except OctoError as exc:
        err.print(f"[red]invalid input: {exc.message}[/red]")
        return EXIT_INVALID

    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    from octollm.embedded import EmbeddedStack

    _interrupted.clear()
    previous = signal.signal(signal.SIGTERM, _on_signal)
    previous_int = signal.signal(signal.SIGINT, _on_signal)
    task_id: str | None = None
    interrupted = False
    rt: Runtime | None = None
    try:
        with ExitStack() as stack:
            try:
                with err.status(
                    "starting services (first run: initialising PostgreSQL, loading the model)"
                ):
                    embedded = stack.enter_context(EmbeddedStack(settings))
                    settings = embedded.settings
                    env = {**os.environ, **embedded.env(), "OCTOLLM_LOG__JSON_OUTPUT": "true"}
                    prepare_multiprocess_dir(settings, env)
                    os.environ.update(embedded.env())
                    get_settings.cache_clear()
                    from octollm.store.migrate import upgrade

                    _raise_if_interrupted()
                    upgrade(settings.require_database_url())
                _raise_if_interrupted()
                workers = _start_workers(settings, env, settings.data_dir / "logs", stack)
                _raise_if_interrupted()
                from octollm.orchestrator.broker.app import app

                rt = Runtime.build(app, settings)
                stack.callback(rt.db.dispose)
                try:
                    task_id = _submit(rt, settings, contract, stack)
                except OctoError as exc:
                    err.print(f"refused: {exc.message}", markup=False, highlight=False)
                    return EXIT_INVALID
                # With --json the progress goes to stderr (``out``), the record alone to stdout.
                record = _follow(rt, task_id, timeout, out, quiet=False, workers=workers)
                if record.get("worker_failure"):
                    with suppress(OctoError):
                        lifecycle.cancel(rt, task_id)
                    err.print(f"[red]{record['worker_failure']}[/red]")
            except KeyboardInterrupt:
                # Said at once: stopping workers and services below takes a while.
                err.print("[yellow]cancelling task and stopping services…[/yellow]")
                interrupted = True
                if rt is not None and task_id is not None:
                    with suppress(OctoError):
                        lifecycle.cancel(rt, task_id)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted again: stopping now[/yellow]")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    if interrupted:
        err.print("[yellow]stopped: task cancelled, services stopped[/yellow]")
        return 130
    return _report(record, as_json, out)


def _submit(rt: Runtime, settings: Settings, contract: TaskContract, stack: ExitStack) -> str:
    """Submit through the same path as the API and ``octollm submit`` (screening under the
    default tenant's policy, its submit rate limit); the result cache is skipped, since a run
    is asked for afresh."""
    import redis

    from octollm.api.schemas import TaskSubmission
    from octollm.api.submission import LocalIntake, submit_local

    client = redis.Redis.from_url(settings.redis_url(), socket_timeout=5, socket_connect_timeout=5)
    stack.callback(client.close)
    intake = LocalIntake(runtime=rt, redis=client, config=settings.api)
    submission = TaskSubmission.model_validate(
        contract.model_dump(mode="json", exclude={"task_id", "created_at"})
    )
    outcome = submit_local(intake, "default", submission, use_cache=False)
    return outcome.accepted.task_id


def _dead_worker(workers: Sequence[Any]) -> str | None:
    """A message naming the first worker process that exited, with its log's last lines."""
    for proc in workers:
        if not proc.alive():
            return (
                f"worker {proc.name} exited (code {proc.returncode}); the task cannot proceed.\n"
                f"last lines of its log:\n{proc.log_tail(15)}"
            )
    return None


def _follow(
    rt: Runtime,
    task_id: str,
    timeout: float,
    console: Console,
    *,
    quiet: bool,
    workers: Sequence[Any] = (),
) -> dict[str, Any]:
    from octollm.cli.progress import render
    from octollm.cli.record import task_record

    started = time.monotonic()
    last_reconcile = started
    interval = rt.settings.orchestrator.reconcile_interval_seconds
    record = task_record(rt, task_id)
    live = Live(render(record, started, "running"), console=console, refresh_per_second=4)
    with live if not quiet else nullcontext():
        while True:
            _raise_if_interrupted()
            record = task_record(rt, task_id)
            assert record is not None
            if not quiet:
                live.update(render(record, started, record["status"]))
            if record["status"] in TERMINAL_TASK_STATUSES:
                return record
            if time.monotonic() - started > timeout:
                record["timed_out"] = True
                return record
            failure = _dead_worker(workers)
            if failure is not None:
                record["worker_failure"] = failure
                return record
            if time.monotonic() - last_reconcile > interval:
                reconciler.reconcile(rt)
                last_reconcile = time.monotonic()
            time.sleep(0.25)


def _report(record: dict[str, Any], as_json: bool, console: Console) -> int:
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, default=str) + "\n")
    else:
        _print_summary(record, console)
    if record.get("timed_out"):
        return EXIT_TIMEOUT
    return {"completed": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(record["status"], EXIT_FAILED)


def _print_answer(record: dict[str, Any], console: Console) -> None:
    """The answer first, then the verdict with each criterion, the citations and the rounds."""
    result = record.get("result") or {}
    answer = result.get("answer")
    console.rule("answer")
    console.print(answer or "(no answer)", markup=False, highlight=False)
    verdict = result.get("verdict") or {}
    if verdict:
        rounds = result.get("rounds") or []
        console.print(f"verdict: {verdict.get('status')}  (rounds: {len(rounds)})", markup=False)
        for criterion in verdict.get("criteria") or []:
            console.print(
                f"  {criterion.get('status')}: {criterion.get('criterion')} "
                f"({criterion.get('why', '')})",
                markup=False,
            )
    for n, cite in enumerate(result.get("citations") or [], start=1):
        where = cite.get("source") or cite.get("doc_id") or cite.get("uri") or "?"
        console.print(f"  [{n}] {where}", markup=False)


def _print_summary(record: dict[str, Any], console: Console) -> None:
    status = record["status"]
    colour = {"completed": "green", "failed": "red"}.get(status, "yellow")
    _print_answer(record, console)
    console.print(
        f"\n[bold {colour}]{status}[/] {record['task_id']}  ({record['tokens_used']} tokens)"
    )
    if record.get("error"):
        console.print(f"[red]{record['error'].get('message')}[/red]")
    for step in record["steps"]:
        if step["status"] == "failed" and step["error"]:
            console.print(
                f"  step {step['step_id']} ({step['arm']}) failed after {step['attempts']} "
                f"attempt(s): {step['error'].get('code')}: {step['error'].get('message')}"
            )
    for step in record["steps"]:
        output = step.get("output") or {}
        if "code" in output:
            console.rule(f"code from step {step['step_id']}")
            console.print(output["code"], markup=False, highlight=False)
        if "stdout" in output:
            console.rule(f"output of step {step['step_id']} (exit {output.get('exit_code')})")
            console.print(output["stdout"] or "(no output)", markup=False, highlight=False)
        if "valid" in output:
            verdict = "valid" if output["valid"] else "invalid"
            console.rule(f"verdict of step {step['step_id']}: {verdict}")
            for issue in output.get("issues", [])[:10]:
                console.print(f"  {issue.get('severity')}: {issue.get('message')}", markup=False)
