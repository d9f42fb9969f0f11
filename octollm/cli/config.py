"""``octollm config``: the effective configuration (secrets masked, sources named) and its docs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from octollm.config import Settings
from octollm.config.effective import Entry, entries, invalid, unknown_variables
from octollm.errors import OctoError

app = typer.Typer(
    help="The effective configuration and its reference (docs/configuration.md).",
    no_args_is_help=True,
)
err = Console(stderr=True)


def _fleet(settings: Settings, source: str) -> dict[str, Any]:
    """The worker pools of the fleet file; ``source`` is where the file's name came from."""
    from octollm.orchestrator.broker.fleet import DEFAULT_FLEET, fleet_path, load_fleet

    path = fleet_path(settings)
    try:
        pools = {
            p.name: {
                "arms": list(p.arms),
                "pool": p.pool,
                "concurrency": p.concurrency,
                "prefetch": p.prefetch,
                "time_limit": p.time_limit,
                "max_tasks_per_child": p.max_tasks_per_child,
            }
            for p in load_fleet(path).values()
        }
    except OctoError as exc:
        return {"file": str(path), "source": source, "error": exc.message, "pools": {}}
    found = {"file": str(path), "source": source, "pools": pools}
    if path != DEFAULT_FLEET:
        found["default_file"] = str(DEFAULT_FLEET)
    return found


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _table(rows: list[Entry], fleet: dict[str, Any]) -> None:
    out = Console(soft_wrap=False)
    table = Table(title="octollm configuration (secrets masked)", title_justify="left")
    table.add_column("setting (variable)", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    for row in rows:
        table.add_row(row.env, _text(row.value), row.source, style=None)
    out.print(table)
    fleet_table = Table(
        title=f"worker fleet, from the fleet file {fleet['file']} (named by: {fleet['source']})",
        title_justify="left",
    )
    for column in ("pool", "arms", "kind", "concurrency", "prefetch", "time limit"):
        fleet_table.add_column(column)
    for name, pool in fleet["pools"].items():
        fleet_table.add_row(
            name,
            ", ".join(pool["arms"]),
            pool["pool"],
            str(pool["concurrency"]),
            str(pool["prefetch"]),
            _text(pool["time_limit"]),
        )
    out.print(fleet_table)
    if "error" in fleet:
        err.print(fleet["error"], style="red", markup=False, highlight=False)


@app.command()
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Settings under this dotted prefix only (e.g. api, broker)."),
    ] = None,
) -> None:
    """Print every setting's effective value (secrets masked) and where it came from:
    default, an OCTOLLM_* variable, the ./.env file, or the fleet file for the worker pools."""
    try:
        settings = Settings()
    except ValidationError as exc:
        err.print(invalid(exc), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    every = entries(settings)
    rows = [r for r in every if only is None or f"{r.setting}.".startswith(f"{only}.")]
    fleet = _fleet(settings, next(r.source for r in every if r.setting == "fleet_file"))
    ignored = unknown_variables()
    if as_json:
        document = {
            "settings": [row.as_dict() for row in rows],
            "fleet": fleet,
            "ignored_variables": ignored,
        }
        print(json.dumps(document, indent=2))
        return
    _table(rows, fleet)
    if ignored:
        err.print(
            "ignored (no such setting): " + ", ".join(ignored),
            style="yellow",
            markup=False,
            highlight=False,
        )


@app.command()
def docs(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the page here instead of stdout."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if --output differs from the model.")
    ] = False,
) -> None:
    """Generate docs/configuration.md from the Settings model (every variable, its type,
    default and description)."""
    from octollm.config.reference import render

    page = render()
    if output is None:
        print(page, end="")
        return
    if check:
        current = output.read_text() if output.exists() else ""
        if current != page:
            err.print(f"{output} is out of date: run `octollm config docs --output {output}`")
            raise typer.Exit(1)
        return
    output.write_text(page)
    err.print(f"wrote {output}")
