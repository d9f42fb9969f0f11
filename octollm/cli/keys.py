"""``octollm keys``: create, list and revoke API keys (stored hashed; a key is shown once)."""

from __future__ import annotations

from typing import Annotated

import typer

from octollm.cli import capability_keys
from octollm.cli.admin import database, err, print_json, show, when
from octollm.security import apikeys

app = typer.Typer(
    help="API keys (one tenant and a set of scopes each) and, under `capability`, the "
    "capability-token signing keys.",
    no_args_is_help=True,
)
app.add_typer(capability_keys.app, name="capability")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@app.command()
def create(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The tenant the key acts for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help=f"Repeatable; one of {', '.join(sorted(apikeys.ALL_SCOPES))} (admin implies "
            f"all). Default: {', '.join(apikeys.DEFAULT_SCOPES)}.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label for people.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once (stdout): it cannot be shown again."""
    scopes = scope or list(apikeys.DEFAULT_SCOPES)
    with database() as db:
        key_id, plaintext = apikeys.create_key(db, tenant, scopes, name=name)
    if as_json:
        print_json(
            {
                "key_id": key_id,
                "tenant": tenant,
                "scopes": sorted(set(scopes)),
                "api_key": plaintext,
            }
        )
        return
    err.print(
        f"created {key_id} for tenant {tenant} ({', '.join(sorted(set(scopes)))}); "
        "the key below is shown once, store it now:"
    )
    print(plaintext)


@app.command("list")
def list_keys(
    tenant: Annotated[
        str | None, typer.Option("--tenant", "-t", help="Only this tenant's keys.")
    ] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List keys, newest first (never their secrets)."""
    with database() as db:
        keys = apikeys.list_keys(db, tenant, include_revoked=include_revoked)
    if as_json:
        print_json(keys)
        return
    show(
        ("key id", "tenant", "scopes", "name", "created", "revoked"),
        [
            (k.key_id, k.tenant, ", ".join(k.scopes), k.name or "", when(k.created_at),
             when(k.revoked_at))
            for k in keys
        ],
    )  # fmt: skip


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="key_<prefix>, from `keys list`.")]) -> None:
    """Revoke a key; requests with it fail from now on (exit 1 when there is no such key)."""
    with database() as db:
        info = apikeys.revoke_key(db, key_id)
    print(f"revoked {info.key_id} (tenant {info.tenant}) at {when(info.revoked_at)}")
