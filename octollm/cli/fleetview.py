"""``octollm queues``, ``octollm queues purge``, ``octollm arms`` and ``octollm workers``: the
fleet as Celery users expect to inspect it (``celery inspect``, ``celery purge``), per arm and
urgency rather than per raw queue."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from octollm.config import get_settings

queues_app = typer.Typer(
    help="Queue depth per arm and urgency; purge an arm's queues.", invoke_without_command=True
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _depths(arms: list[str] | None = None) -> list[tuple[Any, int | None]]:
    from octollm.observability.queues import depths, octollm_queues

    settings = get_settings()
    broker = settings.require_broker_url()
    refs = octollm_queues(settings.queue_prefix, broker, arms)
    found = depths(broker, [r.name for r in refs])
    return [(r, found.get(r.name)) for r in refs]


@queues_app.callback()
def queues(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Messages waiting per arm and urgency (on RabbitMQ one queue per arm: urgency "all",
    since its priorities live inside one queue)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _depths()
    if as_json:
        print(json.dumps([{"queue": r.name, "arm": r.arm, "urgency": r.urgency,
                           "depth": d} for r, d in rows], indent=2))  # fmt: skip
        return
    table = Table(box=None, pad_edge=False)
    for col in ("arm", "urgency", "depth", "queue"):
        table.add_column(col, overflow="fold")
    for r, d in rows:
        table.add_row(r.arm, r.urgency, "?" if d is None else str(d), r.name)
    out.print(table)


@queues_app.command("purge")
def purge(
    arm: Annotated[str, typer.Argument(help="Whose queues to empty, e.g. coder.")],
    urgency: Annotated[
        str | None, typer.Option("--urgency", "-u", help="Only this urgency (Redis brokers).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop the waiting messages of an arm's queues. Their steps stay in Postgres: the
    reconciler re-drives any that are still wanted, so nothing is lost, only re-queued later."""
    from octollm.orchestrator.broker.app import app as celery_app

    targets = [(r, d) for r, d in _depths([arm]) if r.arm == arm]
    if urgency is not None:
        targets = [(r, d) for r, d in targets if r.urgency in (urgency.lower(), "all")]
    if not targets:
        err.print(f"error: no queues for arm {arm!r}")
        raise typer.Exit(2)
    total = sum(d or 0 for _, d in targets)
    names = [r.name for r, _ in targets]
    if not yes:
        typer.confirm(f"purge {total} message(s) from {', '.join(names)}?", abort=True)
    purged = 0
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in names:
            purged += int(channel.queue_purge(name) or 0)
    out.print(f"purged {purged} message(s) from {len(names)} queue(s)")


def _registered(tenant: str) -> dict[str, list[str]]:
    """The arms registered through the API that ``tenant`` sees (its own and everyone's)."""
    from octollm.cli.admin import database
    from octollm.store import arm_registry

    with database() as db, db.session() as session:
        return {
            name: [str(c) for c in row.capabilities]
            for name, row in arm_registry.visible(session, tenant).items()
        }


def arms(as_json: bool, tenant: str | None = None) -> None:
    """Every arm this installation knows: capabilities, and (with Redis) live health; with
    ``tenant``, also the arms registered through the API that this tenant sees."""
    from octollm.arms.registry import known_arms
    from octollm.orchestrator.registry.catalog import capability_of
    from octollm.orchestrator.registry.directory import directory_for

    installed = known_arms()
    registered = _registered(tenant) if tenant is not None else {}
    names = sorted(set(installed) | set(registered))
    settings = get_settings()
    directory = directory_for(settings) if settings.broker.url is not None else None
    live = directory.statuses(names) if directory is not None else {}
    rows: list[dict[str, Any]] = []
    for name in names:
        status = live.get(name)
        caps = set(capability_of(name).capabilities) if name in installed else set()
        rows.append(
            {
                "arm": name,
                "installed": name in installed,
                "registered": name in registered,
                "capabilities": sorted(caps | set(registered.get(name, []))),
                "health": str(status.health) if status else None,
                "workers": status.workers if status else None,
                "heartbeat_age_s": status.heartbeat_age if status else None,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for col in ("arm", "health", "workers", "heartbeat", "capabilities"):
        table.add_column(col, overflow="fold")
    for r in rows:
        age = r["heartbeat_age_s"]
        table.add_row(
            r["arm"],
            r["health"] or "-",
            "-" if r["workers"] is None else str(r["workers"]),
            "-" if age is None else f"{age:.0f} s ago",
            ", ".join(r["capabilities"]),
        )
    out.print(table)


def workers(as_json: bool, timeout: float) -> int:
    """Ask every running worker (Celery's ``inspect``): host, pool, concurrency, queues."""
    from octollm.orchestrator.broker.app import app as celery_app

    inspector = celery_app.control.inspect(timeout=timeout)
    stats = inspector.stats() or {}
    active_queues = inspector.active_queues() or {}
    rows = []
    for name, st in sorted(stats.items()):
        pool = st.get("pool", {})
        rows.append(
            {
                "worker": name,
                "host": name.split("@", 1)[-1],
                "pid": st.get("pid"),
                "pool": str(pool.get("implementation", "")).rsplit(":", 1)[-1],
                "concurrency": pool.get("max-concurrency"),
                "queues": [q["name"] for q in active_queues.get(name, [])],
                "uptime_s": st.get("uptime"),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        err.print(f"no workers answered within {timeout:g} s (start some with `octollm worker`)")
    else:
        table = Table(box=None, pad_edge=False)
        for col in ("worker", "pool", "concurrency", "uptime", "queues"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["worker"], r["pool"], str(r["concurrency"]),
                          f"{r['uptime_s']} s", "\n".join(r["queues"]))  # fmt: skip
        out.print(table)
    return 0 if rows else 1


def time_limit_text(pool: Any, step_limit: float) -> str:
    """The limit a step of ``pool`` runs under: the lower of the pool's ``time_limit`` and
    ``orchestrator.step_time_limit_seconds``, on every pool kind (the step stops itself);
    prefork pools also hard-kill the child a grace later."""
    effective = min(step_limit, float(pool.time_limit)) if pool.time_limit else step_limit
    text = f"time limit {effective:g} s per step"
    if pool.hard_time_limit:
        text += f" (hard kill at {pool.hard_time_limit} s)"
    return text
