"""One submission path: ``octollm submit`` goes through the same screening, limits and
idempotency as ``POST /api/v1/tasks`` (a card number is refused, or redacted, exactly alike)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from octollm.store.db import Database
from tests.support.apiserver import headers, inproc_client, make_key
from tests.support.stack import ROOT, LiveStack, live_stack

CARD_GOAL = "Charge the customer's card 4111 1111 1111 1111 and email the receipt"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as s:
        yield s


def octollm(stack: LiveStack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "octollm.cli.main", *args],
        cwd=ROOT,
        env={**stack.env(), "COLUMNS": "500", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def goals(stack: LiveStack) -> dict[str, str]:
    db = Database(stack.database_url)
    try:
        with db.autocommit() as conn:
            rows = conn.execute(text("SELECT id, goal FROM tasks")).all()
        return {r.id: r.goal for r in rows}
    finally:
        db.dispose()


def test_a_card_number_via_octollm_submit_is_refused_exactly_as_the_api_refuses_it(
    stack: LiveStack,
) -> None:
    # the default policy flags a card number; the block policy refuses it, on either path
    key = make_key(stack, "default")
    with inproc_client(stack, screening="block") as client:
        api = client.post("/api/v1/tasks", json={"goal": CARD_GOAL}, headers=headers(key))
    cli = octollm(stack, "submit", CARD_GOAL, OCTOLLM_API__SCREENING="block")
    assert api.status_code == 422, api.text
    assert api.json()["error"]["code"] == "CONTENT_BLOCKED"
    assert cli.returncode == 2, (cli.stdout, cli.stderr)
    assert api.json()["error"]["message"] in " ".join(cli.stderr.split())
    assert "4111" not in cli.stdout + cli.stderr
    assert goals(stack) == {}, "nothing was stored by either path"


def test_under_the_redact_policy_both_paths_store_the_same_redacted_goal(
    stack: LiveStack,
) -> None:
    key = make_key(stack, "default")
    with inproc_client(stack, screening="redact") as client:
        api = client.post(
            "/api/v1/tasks",
            json={"goal": CARD_GOAL},
            headers={**headers(key), "Cache-Control": "no-cache"},
        )
    cli = octollm(stack, "submit", CARD_GOAL, "--no-cache", OCTOLLM_API__SCREENING="redact")
    assert api.status_code == 202, api.text
    assert cli.returncode == 0, cli.stderr
    assert "screening redacted" in cli.stderr
    stored = goals(stack)
    api_goal, cli_goal = stored[api.json()["task_id"]], stored[cli.stdout.strip()]
    assert "4111" not in api_goal
    assert cli_goal == api_goal


def test_octollm_submit_honours_an_idempotency_key_like_the_api(stack: LiveStack) -> None:
    first = octollm(stack, "submit", "summarise the release notes", "--idempotency-key", "k-1")
    again = octollm(stack, "submit", "summarise the release notes", "--idempotency-key", "k-1")
    other = octollm(stack, "submit", "a different goal", "--idempotency-key", "k-1")
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert first.stdout.strip() == again.stdout.strip()
    assert other.returncode == 2
    assert "different request body" in other.stderr
    assert len(goals(stack)) == 1
