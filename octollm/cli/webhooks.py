"""``octollm webhooks``: register endpoints, follow deliveries, redeliver dead ones, rotate
the at-rest key (``rotate-key``) and an endpoint's signing secret (``rotate-secret``).

Everything works inside one tenant (``--tenant``, default ``default``: the tenant of tasks
submitted with ``octollm submit``/``run``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from octollm.cli.admin import database, err, plain, print_json, show, when
from octollm.config import get_settings
from octollm.orchestrator.capability import webhook_messages
from octollm.webhooks import registry, secretbox
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
        typer.Option(
            "--secret", help="Signing secret, whsec_<base64> (24-64 bytes); generated when absent."
        ),
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
    from octollm.orchestrator.broker.app import app as celery_app

    settings = get_settings()
    with database() as db:
        delivery = webhook_messages.redeliver(
            db, tenant, delivery_id, app=celery_app, settings=settings
        )
    print(f"redelivering {delivery.id} ({delivery.event_type}): {delivery.status}")


@app.command("rotate-key")
def rotate_key(
    keep_old: Annotated[
        bool,
        typer.Option("--keep-old", help="Keep the older keys in the key file (default: drop)."),
    ] = False,
) -> None:
    """Re-seal every endpoint's signing secret with a new at-rest key.

    With the key file (``<data_dir>/webhook-secrets.keys``): a new key goes first, every row is
    re-sealed in one transaction, then the older keys are dropped (processes reload the file).
    With ``OCTOLLM_WEBHOOKS__SECRET_KEYS``: put the new key first there, run this, then remove
    the old one. Plaintext rows (written before the migration) are sealed too.
    """
    settings = get_settings()
    from_file = not settings.webhooks.secret_keys
    if from_file:
        secretbox.add_key(settings.data_dir)
    sealer = secretbox.box(settings)
    sealer.reload()
    with database() as db:
        count = registry.reseal_all(db, sealer)
    dropped = 0
    if from_file and not keep_old:
        dropped = secretbox.retire_old_keys(settings.data_dir)
    source = secretbox.key_path(settings.data_dir) if from_file else "OCTOLLM_WEBHOOKS__SECRET_KEYS"
    print(f"re-sealed {count} endpoint secret(s) with the newest key of {source}")
    if dropped:
        print(f"dropped {dropped} older key(s)")


@app.command("rotate-secret")
def rotate_secret(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint (`octollm webhooks list`).")],
    tenant: TenantOpt = "default",
    overlap: Annotated[
        float,
        typer.Option("--overlap", help="Seconds to sign with both the old and the new secret."),
    ] = 86_400.0,
    secret: Annotated[
        str | None, typer.Option("--secret", help="The new whsec_ secret; generated when absent.")
    ] = None,
) -> None:
    """Give an endpoint a new signing secret. Until the overlap ends, deliveries carry two
    signatures (old and new, space-separated), so the receiver can switch at its own pace."""
    chosen = secret or new_secret()
    with database() as db:
        until = registry.rotate_secret(
            db, tenant, endpoint_id, chosen, overlap_seconds=overlap, settings=get_settings()
        )
    print(f"rotated {endpoint_id}; the old secret signs too until {when(until)}")
    if not secret:
        err.print("new signing secret (shown once, store it now):")
        print(chosen)
