"""``octollm webhooks``: register endpoints, follow deliveries, redeliver dead ones.

Everything works inside one tenant (``--tenant``, default ``default``: the tenant of tasks
submitted with ``octollm submit``/``run``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from octollm.cli.admin import database, err, plain, print_json, show, when
from octollm.config import get_settings
from octollm.webhooks import registry
from octollm.webhooks.signing import new_secret

app = typer.Typer(help="Signed webhooks: endpoints, deliveries, redelivery.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="The endpoints' tenant.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@app.command()
def register(
    url: Annotated[str, typer.Argument(help="http(s) URL; must resolve to public addresses.")],
    event: Annotated[
        list[str],
        typer.Option("--event", "-e", help="Repeatable: task.completed, task.*, or *."),
    ],
    tenant: TenantOpt = "default",
    secret: Annotated[
        str | None,
        typer.Option("--secret", help="Signing secret (16+ characters); generated when absent."),
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Register an endpoint (SSRF-checked first; exit 2 when refused). A generated secret is
    printed once."""
    chosen = secret or new_secret()
    with database() as db:
        endpoint = registry.register(
            db, tenant, url, event, chosen, description=description, settings=get_settings()
        )
    shown = None if secret else chosen
    if as_json:
        print_json({**plain(endpoint), "secret": shown})
        return
    print(f"registered {endpoint.id} -> {endpoint.url} ({', '.join(endpoint.event_types)})")
    if shown:
        err.print("signing secret (shown once, store it now):")
        print(shown)


@app.command("list")
def list_endpoints(tenant: TenantOpt = "default", as_json: JsonOpt = False) -> None:
    """List the tenant's endpoints (never their secrets)."""
    with database() as db:
        endpoints = registry.list_endpoints(db, tenant)
    if as_json:
        print_json(endpoints)
        return
    show(
        ("id", "url", "events", "active", "created"),
        [
            (e.id, e.url, ", ".join(e.event_types), str(e.active), when(e.created_at))
            for e in endpoints
        ],
    )


@app.command()
def deliveries(
    tenant: TenantOpt = "default",
    status: Annotated[
        str | None,
        typer.Option("--status", help="pending | sending | retrying | succeeded | dead"),
    ] = None,
    event_type: Annotated[str | None, typer.Option("--event-type")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List deliveries, newest first."""
    with database() as db:
        found = registry.deliveries(db, tenant, status=status, event_type=event_type, limit=limit)
    if as_json:
        print_json(found)
        return
    show(
        ("id", "endpoint", "event", "status", "attempts", "last code", "created"),
        [
            (
                str(d.id),
                d.endpoint_id,
                f"{d.event_type} {d.event_id}",
                d.status + (f" ({d.dead_reason})" if d.dead_reason else ""),
                f"{d.attempts}/{d.max_attempts}",
                str(d.last_status_code or "-"),
                when(d.created_at),
            )
            for d in found
        ],
    )


@app.command()
def redeliver(
    delivery_id: Annotated[int, typer.Argument(help="A dead delivery's id (`deliveries`).")],
    tenant: TenantOpt = "default",
) -> None:
    """Send a dead delivery again on the webhooks queue (a worker of the webhooks pool sends it)."""
    from octollm.orchestrator.app import app as celery_app

    settings = get_settings()
    with database() as db:
        delivery = registry.redeliver(db, tenant, delivery_id, app=celery_app, settings=settings)
    print(f"redelivering {delivery.id} ({delivery.event_type}): {delivery.status}")
