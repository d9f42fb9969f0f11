"""``octollm tasks list|show|cancel|resume|retry`` — what ``/api/v1/tasks`` does, from a shell.

Read-only commands work after an embedded ``octollm run`` too (``cli/session.py``). Exit codes:
0 done, 1 not found or refused by the task's state, 2 invalid input.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.text import Text

from octollm.cli.session import operator_runtime
from octollm.contracts.status import TaskStatus

app = typer.Typer(help="List, inspect, cancel, resume and retry tasks.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", "-t", help="Only this tenant's tasks (default: every tenant)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _seconds(record: dict[str, Any]) -> float | None:
    start = record.get("started_at") or record.get("created_at")
    end = record.get("finished_at")
    if not start:
        return None
    began = datetime.fromisoformat(start)
    ended = datetime.fromisoformat(end) if end else datetime.now(began.tzinfo)
    return (ended - began).total_seconds()


def _load(task_id: str, tenant: str | None) -> dict[str, Any]:
    from octollm.cli.record import task_record

    with operator_runtime(read_only=True) as rt:
        record = task_record(rt, task_id)
    if record is None or (tenant is not None and record["tenant"] != tenant):
        err.print(f"error: task {task_id} not found")
        raise typer.Exit(1)
    return record


@app.command("list")
def list_tasks(
    tenant: TenantOpt = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Only these statuses (repeatable), e.g. failed."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The newest tasks first: id, tenant, status, priority, verdict, age and goal."""
    from octollm.store import task_listing

    statuses = tuple(TaskStatus(s.lower()).value for s in status or ())
    where = task_listing.TaskFilter(tenant=tenant, statuses=statuses)
    with operator_runtime(read_only=True) as rt, rt.db.session() as session:
        rows, _ = task_listing.page(session, where, limit, None)
    items: list[dict[str, Any]] = [
        {
            "task_id": r.id,
            "tenant": r.tenant,
            "status": r.status,
            "priority": r.priority,
            "verdict": ((r.result or {}).get("verdict") or {}).get("status"),
            "created_at": r.created_at.isoformat(),
            "goal": r.goal,
        }
        for r in rows
    ]
    if as_json:
        print(json.dumps(items, indent=2))
        return
    if not items:
        out.print("no tasks")
        return
    # Plain columns, never squeezed: ids are what operators copy.
    header = f"{'task':<41}  {'tenant':<12} {'status':<10} {'verdict':<10} {'created':<11}  goal"
    out.print(header, soft_wrap=True)
    for i in items:
        created = str(i["created_at"])[5:16].replace("T", " ")
        out.print(
            f"{i['task_id']:<41}  {i['tenant']:<12} {i['status']:<10} "
            f"{i['verdict'] or '-':<10} {created:<11}  {str(i['goal'])[:60]}",
            soft_wrap=True,
        )


def show_task(task_id: str, tenant: str | None, as_json: bool, dag: bool) -> None:
    from octollm.cli.progress import render

    record = _load(task_id, tenant)
    if as_json:
        print(json.dumps(record, indent=2, default=str))
        return
    elapsed = _seconds(record)
    parts: list[Any] = [render(record, 0.0, record["status"], elapsed=elapsed)]
    if dag:
        parts.append(dag_view(record["steps"]))
    if record.get("answer"):
        parts.append(Text.assemble(("answer\n", "bold"), str(record["answer"])))
    if record.get("verdict"):
        parts.append(Text(f"verdict: {record['verdict']}", style="bold"))
    if record.get("error"):
        error = record["error"]
        parts.append(Text(f"error: {error.get('code')}: {error.get('message')}", style="red"))
    out.print(Group(*parts))


def dag_view(steps: list[dict[str, Any]]) -> Text:
    """The plan as levels (a step sits one level below its deepest dependency) with its edges."""
    level: dict[str, int] = {}
    by_id = {s["step_id"]: s for s in steps}

    def depth(step_id: str, seen: frozenset[str] = frozenset()) -> int:
        if step_id in level:
            return level[step_id]
        deps = [d for d in by_id[step_id]["depends_on"] if d in by_id and d not in seen]
        level[step_id] = 1 + max((depth(d, seen | {step_id}) for d in deps), default=-1)
        return level[step_id]

    for s in steps:
        depth(s["step_id"])
    text = Text("plan DAG\n", style="bold")
    for n in range(max(level.values(), default=-1) + 1):
        row = [s for s in steps if level[s["step_id"]] == n]
        text.append(f"  L{n}  ")
        for i, s in enumerate(row):
            if i:
                text.append("   ")
            text.append(f"[{s['step_id']}]", style="bold")
            text.append(f" {s['status']}", style="dim")
            if s["depends_on"]:
                text.append(f" ← {', '.join(s['depends_on'])}", style="cyan")
        text.append("\n")
    return text


@app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(help="task-<uuid>")],
    tenant: TenantOpt = None,
    dag: Annotated[bool, typer.Option("--dag", help="Also draw the plan's DAG.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A task: its step tree, answer, verdict and error (``--dag``: the plan's levels)."""
    show_task(task_id, tenant, as_json, dag)


def _change(task_id: str, tenant: str | None, action: str) -> None:
    from octollm.errors import OctoError
    from octollm.orchestrator.engine import lifecycle

    with operator_runtime(read_only=False) as rt:
        try:
            row = getattr(lifecycle, action)(rt, task_id, tenant=tenant)
        except OctoError as exc:
            err.print(f"error: {exc.message}")
            raise typer.Exit(1) from None
    out.print(f"{row.id}: {row.status}")


@app.command("cancel")
def cancel(task_id: Annotated[str, typer.Argument()], tenant: TenantOpt = None) -> None:
    """Cancel a task: queued steps never start; running ones stop at their next check."""
    _change(task_id, tenant, "cancel")


@app.command("resume")
def resume(task_id: Annotated[str, typer.Argument()], tenant: TenantOpt = None) -> None:
    """Resume a failed or cancelled task from its unfinished steps (finished ones are kept)."""
    _change(task_id, tenant, "resume")


@app.command("retry")
def retry(task_id: Annotated[str, typer.Argument()], tenant: TenantOpt = None) -> None:
    """Submit a finished task's goal and plan again, as a new task (prints its id)."""
    from octollm.contracts.task import TaskContract
    from octollm.orchestrator.engine import lifecycle
    from octollm.store import tasks as task_repo

    with operator_runtime(read_only=False) as rt:
        with rt.db.session() as session:
            row = task_repo.get(session, task_id)
        if row is None or (tenant is not None and row.tenant != tenant):
            err.print(f"error: task {task_id} not found")
            raise typer.Exit(1)
        if not TaskStatus(row.status).terminal:
            err.print(f"error: task {task_id} is still {row.status}; cancel it first")
            raise typer.Exit(1)
        # A new id and creation time (so a new deadline); the same goal, plan and budget.
        data = {k: v for k, v in row.contract.items() if k not in {"task_id", "created_at"}}
        new = lifecycle.submit(rt, TaskContract.model_validate(data), tenant=row.tenant)
    out.print(new.id)
