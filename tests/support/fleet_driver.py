"""The multi-host rig's client, run on the "edge" host (``ip netns exec <edge> python -m
tests.support.fleet_driver ...``): it talks to the API over the namespace network and reads
step placement from the database, and prints one JSON document.

    health                       wait for the API's /health
    submit N KIND                N tasks (KIND: fanout | noop | long); prints their ids
    wait SECONDS                 ids on stdin; waits until all finish; prints {id: status}
    cancel                       ids on stdin; POST /cancel for each
    steps                        ids on stdin; prints [[task_id, step_id, status, lease_owner]]
    span                         ids on stdin; seconds from the first to the last finish
    retriever INPUT_JSON         one task with one retriever step; waits; prints its status and
                                 the step's output

Environment: ``FLEET_API`` (base URL), ``FLEET_KEY`` (API key), ``OCTOLLM_DATABASE__URL``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import httpx
import psycopg

PLANS: dict[str, dict[str, Any]] = {
    # one root, three parallel sleeps, one fan-in: a chord per task
    "fanout": {
        "steps": [
            {"step_id": "a", "arm": "noop", "action": "start", "input": {}},
            *[
                {"step_id": f"b{i}", "arm": "sleep", "action": "work",
                 "input": {"seconds": 0.3}, "depends_on": ["a"]}
                for i in range(3)
            ],
            {"step_id": "c", "arm": "noop", "action": "join", "input": {},
             "depends_on": ["b0", "b1", "b2"]},
        ]
    },
    "noop": {"steps": [{"step_id": "s", "arm": "noop", "action": "noop", "input": {}}]},
    # four long parallel sleeps: something to cancel on both worker hosts
    "long": {
        "steps": [
            {"step_id": f"l{i}", "arm": "sleep", "action": "wait", "input": {"seconds": 60}}
            for i in range(4)
        ]
    },
}  # fmt: skip


def _client() -> httpx.Client:
    return httpx.Client(
        base_url=os.environ["FLEET_API"],
        headers={"X-API-Key": os.environ.get("FLEET_KEY", "")},
        timeout=30,
    )


def _ids() -> list[str]:
    return [line.strip() for line in sys.stdin if line.strip()]


def health() -> Any:
    deadline = time.monotonic() + 120
    with _client() as client:
        while True:
            try:
                if client.get("/health").status_code == 200:
                    return {"ok": True}
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                return {"ok": False}
            time.sleep(0.5)


def submit(count: int, kind: str) -> Any:
    """Through octollm's own client, which backs off on the API's 429 (its submit rate limit)
    as ``Retry-After`` asks."""
    from octollm.client import OctoClient

    with OctoClient(
        os.environ["FLEET_API"], os.environ.get("FLEET_KEY", ""), max_retries=50
    ) as client:
        return [
            client.submit(f"fleet {kind} task {n}", plan=PLANS[kind]).task_id for n in range(count)
        ]


def wait(seconds: float) -> Any:
    ids = _ids()
    deadline = time.monotonic() + seconds
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT id, status FROM tasks WHERE id = ANY(%s)", (ids,)
            ).fetchall()
            found = dict(rows)
            done = all(found.get(i) in ("completed", "failed", "cancelled") for i in ids)
            if done or time.monotonic() > deadline:
                return found
            time.sleep(1)


def cancel() -> Any:
    with _client() as client:
        return {i: client.post(f"/api/v1/tasks/{i}/cancel").status_code for i in _ids()}


def steps() -> Any:
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT task_id, step_id, status, lease_owner FROM steps WHERE task_id = ANY(%s)",
            (_ids(),),
        ).fetchall()
    return [list(r) for r in rows]


def span() -> Any:
    """Seconds between the first and the last of the tasks to finish (a drain's duration)."""
    with psycopg.connect(_dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(finished_at) - min(finished_at)) FROM tasks"
            " WHERE id = ANY(%s)",
            (_ids(),),
        ).fetchone()
    return float(row[0]) if row and row[0] is not None else None


def retriever(step_input: str) -> Any:
    step = {"step_id": "r", "arm": "retriever", "action": "memory"}
    plan = {"steps": [{**step, "input": json.loads(step_input)}]}
    with _client() as client:
        response = client.post("/api/v1/tasks", json={"goal": "fleet memory", "plan": plan})
        response.raise_for_status()
        task_id = response.json()["task_id"]
        deadline = time.monotonic() + 300
        while True:
            body = client.get(f"/api/v1/tasks/{task_id}").json()
            if body.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                return {"status": body.get("status"), "task_id": task_id}
            time.sleep(0.5)
    result = body.get("result") or {}
    return {
        "status": body["status"],
        "output": (result.get("steps") or {}).get("r"),
        "error": body.get("error"),
    }


def _dsn() -> str:
    return os.environ["OCTOLLM_DATABASE__URL"].replace("postgresql+psycopg://", "postgresql://")


def main(argv: list[str]) -> None:
    command, *rest = argv
    result: Any
    if command == "health":
        result = health()
    elif command == "submit":
        result = submit(int(rest[0]), rest[1])
    elif command == "wait":
        result = wait(float(rest[0]))
    elif command == "cancel":
        result = cancel()
    elif command == "steps":
        result = steps()
    elif command == "span":
        result = span()
    elif command == "retriever":
        result = retriever(rest[0])
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
