"""``octollm tenants``: each tenant's fair-dispatch weight and limits, and its usage."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from octollm.cli.admin import database, print_json, show
from octollm.orchestrator.fairness import tenants as tenant_views

app = typer.Typer(
    help="Per-tenant weights (fair dispatch) and limits: running steps, unfinished tasks, "
    "daily tokens and cost.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def _opt(name: str, help_: str) -> Any:
    return typer.Option(name, help=help_)


@app.command("set")
def set_limits(
    tenant: Annotated[str, typer.Argument(help="The tenant.")],
    weight: Annotated[
        float | None, _opt("--weight", "Share of the fair dispatcher (default 1).")
    ] = None,
    max_running: Annotated[
        int | None, _opt("--max-running", "Steps running at once, all arms (fair dispatch).")
    ] = None,
    max_running_per_arm: Annotated[
        int | None, _opt("--max-running-per-arm", "Steps running at once on one arm.")
    ] = None,
    max_queued: Annotated[
        int | None, _opt("--max-queued", "Unfinished tasks; beyond it submit answers 429.")
    ] = None,
    daily_tokens: Annotated[
        int | None, _opt("--daily-tokens", "LLM tokens per UTC day (QUOTA_EXCEEDED past it).")
    ] = None,
    daily_cost: Annotated[
        float | None, _opt("--daily-cost", "LLM cost in USD per UTC day.")
    ] = None,
    clear: Annotated[
        list[str] | None,
        _opt(
            "--clear",
            "Repeatable: remove a limit (max_running, max_running_per_arm, max_queued_tasks, "
            "daily_tokens, daily_cost_usd).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set some of a tenant's limits; the others stay as they are."""
    given = {
        "weight": weight,
        "max_running": max_running,
        "max_running_per_arm": max_running_per_arm,
        "max_queued_tasks": max_queued,
        "daily_tokens": daily_tokens,
        "daily_cost_usd": daily_cost,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    changes.update(dict.fromkeys(clear or []))
    with database() as db:
        view = tenant_views.set_limits(db, tenant, changes)
    if as_json:
        print_json(view.as_dict())
        return
    _table([view])


@app.command("show")
def show_tenants(
    tenant: Annotated[str | None, typer.Argument(help="One tenant (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Limits and usage of one tenant, or of every tenant with limits or live work."""
    with database() as db:
        views = tenant_views.overview(db, [tenant] if tenant else None)
    if as_json:
        print_json([v.as_dict() for v in views])
        return
    _table(views)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _table(views: list[tenant_views.TenantView]) -> None:
    show(
        ["tenant", "weight", "max running", "per arm", "max queued", "daily tokens",
         "daily USD", "unfinished", "held", "running", "tokens today", "USD today"],
        [
            [
                v.limits.tenant, _cell(v.limits.weight), _cell(v.limits.max_running),
                _cell(v.limits.max_running_per_arm), _cell(v.limits.max_queued_tasks),
                _cell(v.limits.daily_tokens), _cell(v.limits.daily_cost_usd),
                str(v.unfinished_tasks), str(v.held_canvases), str(v.running_steps),
                str(v.tokens_today), f"{v.cost_usd_today:.4f}",
            ]
            for v in views
        ],
    )  # fmt: skip
