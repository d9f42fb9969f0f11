"""A web app's backend handing work to octollm (the README's example).

The request handler submits the task, relays its progress to the user as it happens
(``client.stream``), and returns the result once the task is done
(``client.wait_for_completion``; a cancelled task counts as done too)::

    python examples/webapp.py --url http://127.0.0.1:8000 --api-key octo_... \\
        --goal "Summarise the incident report in five bullet points"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from octollm.client import OctoClient, Task


def handle_request(
    client: OctoClient,
    goal: str,
    *,
    plan: dict[str, Any] | None = None,
    on_progress: Callable[[str], None] = print,
    timeout: float = 300.0,
) -> Task:
    """What a web handler does per user request: submit, relay progress, return the result."""
    accepted = client.submit(goal, plan=plan)
    on_progress(f"queued {accepted.task_id}")
    for event in client.stream(accepted.task_id):
        step = event.data.get("step_id")
        on_progress(f"{event.event_type}{f' {step}' if step else ''}")
    return client.wait_for_completion(accepted.task_id, timeout=timeout, poll_interval=0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("OCTOLLM_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("OCTOLLM_API_KEY"))
    parser.add_argument("--goal", required=True)
    parser.add_argument("--plan", help="an explicit plan as JSON (optional)")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    with OctoClient(args.url, api_key=args.api_key) as client:
        task = handle_request(
            client,
            args.goal,
            plan=json.loads(args.plan) if args.plan else None,
            timeout=args.timeout,
        )
    print(json.dumps({"task_id": task.task_id, "status": task.status, "result": task.result}))
    return 0 if task.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
