"""``octollm deadletters list|show|replay`` — steps that used up their attempts, from a shell.

The same store and replay path as ``/api/v1/dead-letters``; ``replay`` runs the step again with
its dependants (``--all`` replays every never-replayed letter matching the filters).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from octollm.cli.session import operator_runtime

app = typer.Typer(help="List, inspect and replay dead-lettered steps.", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Only this tenant's (default: every tenant).")
]


def _plain(letter: Any) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(letter), default=str))  # type: ignore[no-any-return]


@app.command("list")
def list_letters(
    tenant: TenantOpt = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this task's.")] = None,
    arm: Annotated[str | None, typer.Option("--arm", help="Only this arm's.")] = None,
    pending: Annotated[
        bool, typer.Option("--pending", help="Only letters never replayed.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Dead letters, newest first: id, task, step, arm, reason, attempts, replays."""
    from octollm.orchestrator.recovery import deadletters

    filters = deadletters.DeadLetterFilter(
        tenant=tenant, task_id=task, arm=arm, replayed=False if pending else None, limit=limit
    )
    with operator_runtime(read_only=True) as rt:
        letters = deadletters.list_dead_letters(rt, filters)
    if as_json:
        print(json.dumps([_plain(d) for d in letters], indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("id", "task", "step", "arm", "reason", "attempts", "replays", "error"):
        table.add_column(col, overflow="fold" if col in ("task", "error") else "ellipsis")
    for d in letters:
        table.add_row(
            str(d.id),
            d.task_id,
            d.step_id,
            d.arm,
            d.reason,
            str(d.attempts),
            str(d.replay_count),
            f"{d.error.get('code', '')}: {str(d.error.get('message', ''))[:80]}",
        )
    out.print(table if letters else "no dead letters")


@app.command("show")
def show(
    letter_id: Annotated[int, typer.Argument(help="The dead letter's id (from `list`).")],
    tenant: TenantOpt = None,
) -> None:
    """One dead letter as JSON: its error, attempts, input reference and replays."""
    from octollm.orchestrator.recovery import deadletters

    with operator_runtime(read_only=True) as rt:
        letter = deadletters.get(rt, letter_id, tenant=tenant)
    print(json.dumps(_plain(letter), indent=2))


@app.command("replay")
def replay(
    letter_id: Annotated[
        int | None, typer.Argument(help="The dead letter to replay (or use --all).")
    ] = None,
    tenant: TenantOpt = None,
    replay_all: Annotated[
        bool,
        typer.Option("--all", help="Replay every never-replayed letter matching --task/--arm."),
    ] = False,
    task: Annotated[str | None, typer.Option("--task")] = None,
    arm: Annotated[str | None, typer.Option("--arm")] = None,
) -> None:
    """Run a dead-lettered step again, with its dependants; its task goes back to processing."""
    from octollm.orchestrator.recovery import deadletters

    if (letter_id is None) == (not replay_all):
        err.print("error: give one LETTER_ID or --all")
        raise typer.Exit(2)
    with operator_runtime(read_only=False) as rt:
        if letter_id is not None:
            letter = deadletters.replay(rt, letter_id, by="cli", tenant=tenant)
            out.print(f"replayed {letter.id}: {letter.task_id} step {letter.step_id}")
            return
        filters = deadletters.DeadLetterFilter(tenant=tenant, task_id=task, arm=arm)
        report = deadletters.replay_matching(rt, filters, by="cli")
    out.print(f"replayed {len(report.replayed)}, skipped {len(report.skipped)}")
    for letter_id_, why in report.skipped:
        out.print(f"  skipped {letter_id_}: {why}")
