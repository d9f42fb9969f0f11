"""Load check of the submit path: a fixed request rate for a fixed time (open loop).

Starts a real stack on this machine (a fresh Postgres database, a Redis DB, Celery workers for
the orchestrator and a trivial ``noop`` arm, one uvicorn API process), then sends
``POST /api/v1/tasks`` at ``--rate`` requests per second for ``--seconds``. Requests go out on
schedule whether or not earlier ones have answered (no coordinated omission); latency is
measured from the scheduled send time. Afterwards every accepted task id must have its row in
Postgres, and the run waits (bounded) for the workers to finish them. Writes a section to
``docs/benchmarks-api.md``.

    .venv/bin/python benchmarks/api_load.py --rate 20 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OCTOLLM_ARM_PLUGINS", "tests.support.arms:NoopArm")

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from octollm.store.db import Database  # noqa: E402
from octollm.store.models import TaskRow  # noqa: E402
from tests.support.apiserver import api_server, make_key  # noqa: E402
from tests.support.stack import live_stack  # noqa: E402

OPEN = {
    "rate_limits": {
        "submit": {"rate": 10_000, "burst": 10_000},
        "submit_per_key": {"rate": 10_000, "burst": 10_000},
        "read": {"rate": 10_000, "burst": 10_000},
        "read_per_key": {"rate": 10_000, "burst": 10_000},
    },
    "ready_arms": ["orchestrator", "noop"],
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


async def drive(url: str, key: str, rate: float, seconds: float) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(i: int, scheduled: float) -> None:
            body = {
                "goal": f"load check task number {i}",
                "plan": {"steps": [{"step_id": "n", "arm": "noop", "action": "nothing"}]},
            }
            headers = {"X-API-Key": key, "Cache-Control": "no-cache"}
            try:
                resp = await client.post("/api/v1/tasks", json=body, headers=headers)
                status, task_id = resp.status_code, resp.json().get("task_id")
            except httpx.HTTPError as exc:
                status, task_id = 0, None
                print(f"request {i} failed: {exc!r}", file=sys.stderr)
            done = time.perf_counter()
            results.append({"status": status, "task_id": task_id, "latency": done - scheduled})

        start = time.perf_counter()
        total = int(rate * seconds)
        pending: list[asyncio.Task[None]] = []
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(i, scheduled)))
        await asyncio.gather(*pending)
    return results


def rows_present(database_url: str, ids: list[str]) -> tuple[int, dict[str, int]]:
    db = Database(database_url)
    try:
        with db.session() as session:
            found = 0
            for chunk in range(0, len(ids), 500):
                found += int(
                    session.scalar(
                        select(func.count()).where(TaskRow.id.in_(ids[chunk : chunk + 500]))
                    )
                    or 0
                )
            by_status = {
                row[0]: row[1]
                for row in session.execute(
                    select(TaskRow.status, func.count()).group_by(TaskRow.status)
                )
            }
        return found, {str(k): int(v) for k, v in by_status.items()}
    finally:
        db.dispose()


def report(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    present: int,
    statuses: dict[str, int],
    drain_seconds: float,
) -> str:
    ok = [r for r in results if r["status"] == 202]
    lat = [r["latency"] * 1000 for r in ok]
    shed = [r["latency"] * 1000 for r in results if r["status"] == 503]
    processes = (
        "one uvicorn process"
        if args.api_workers == 1
        else (f"{args.api_workers} uvicorn processes")
    )
    codes: dict[int, int] = {}
    for r in results:
        codes[r["status"]] = codes.get(r["status"], 0) + 1
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"## API submit latency ({when})",
            "",
            f"`benchmarks/api_load.py --rate {args.rate:g} --seconds {args.seconds:g}"
            f"{f' --api-workers {args.api_workers}' if args.api_workers > 1 else ''}` on this "
            f"machine ({os.cpu_count()} cores, Python {platform.python_version()}): {processes} "
            f"(max_in_flight {args.max_in_flight}), Postgres and Redis local, a `noop` worker "
            "and an orchestrator worker draining the tasks meanwhile. Open loop: latency from "
            "the scheduled send time.",
            "",
            "| requests | 202 | other | p50 ms | p90 ms | p99 ms | max ms | mean ms |",
            "|---|---|---|---|---|---|---|---|",
            f"| {len(results)} | {len(ok)} | {len(results) - len(ok)} "
            f"| {percentile(lat, 50):.1f} | {percentile(lat, 90):.1f} "
            f"| {percentile(lat, 99):.1f} | {max(lat, default=float('nan')):.1f} "
            f"| {statistics.fmean(lat) if lat else float('nan'):.1f} |",
            "",
            f"- status codes: {dict(sorted(codes.items()))}",
            f"- shed (503 + Retry-After): {len(shed)}"
            + (
                f", answered in p50 {percentile(shed, 50):.1f} ms, "
                f"p99 {percentile(shed, 99):.1f} ms"
                if shed
                else ""
            ),
            f"- task rows present afterwards: {present} of {len(ok)} accepted ids",
            f"- task statuses {drain_seconds:.0f} s after the last request: "
            f"{dict(sorted(statuses.items()))}",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--drain", type=float, default=60.0, help="max wait for completion")
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn processes")
    parser.add_argument(
        "--max-in-flight", type=int, default=64, help="OCTOLLM_API__MAX_IN_FLIGHT per process"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks-api.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, live_stack(Path(tmp), redis_db=7) as stack:
        stack.extra_env["OCTOLLM_ARM_PLUGINS"] = os.environ["OCTOLLM_ARM_PLUGINS"]
        stack.start_worker(["orchestrator"], concurrency=4)
        stack.start_worker(["noop"], concurrency=4)
        key = make_key(stack, "load")
        with api_server(
            stack,
            "api-load",
            workers=args.api_workers,
            max_in_flight=args.max_in_flight,
            **OPEN,
        ) as api:
            results = asyncio.run(drive(api.url, key, args.rate, args.seconds))
            ids = [r["task_id"] for r in results if r["status"] == 202]
            present, statuses = rows_present(stack.database_url, ids)
            began = time.monotonic()
            while time.monotonic() - began < args.drain:
                present, statuses = rows_present(stack.database_url, ids)
                if statuses.get("completed", 0) >= len(ids):
                    break
                time.sleep(1)
            drained = time.monotonic() - began
    text = report(args, results, present, statuses, drained)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = args.out.read_text() if args.out.exists() else "# API benchmarks\n\n"
    args.out.write_text(previous.rstrip("\n") + "\n\n" + text)
    # Shedding (503) is the API working as designed; an accepted task without its row is not.
    return 0 if present == len(ids) else 1


if __name__ == "__main__":
    sys.exit(main())
