"""The SSRF guard at both edges: ``POST /api/v1/webhooks`` answers 422 and ``octollm webhooks
register`` exits 2 for every embedded-IPv4 IPv6 spelling, before any connection (a receiver
listening on loopback at the named port gets nothing) and before anything is stored."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from octollm.store.db import Database
from octollm.webhooks import list_endpoints
from tests.support.apiserver import headers, inproc_client, make_key
from tests.support.stack import ROOT, LiveStack, live_stack
from tests.support.webhook_receiver import webhook_receiver

SPELLINGS = [
    "http://[::127.0.0.1]:{port}/hook",
    "http://[::7f00:1]:{port}/hook",
    "http://[::ffff:0:7f00:1]:{port}/hook",
    "http://[::ffff:0:127.0.0.1]:{port}/hook",
    "http://[::ffff:127.0.0.1]:{port}/hook",
    "http://[64:ff9b::7f00:1]:{port}/hook",
    "http://[64:ff9b:1:7f00:0:100::]:{port}/hook",
    "http://[2002:7f00:1::1]:{port}/hook",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}/hook",
]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as s:
        yield s


def test_every_embedded_ipv4_spelling_gets_422_from_the_api_and_exit_2_from_the_cli(
    stack: LiveStack,
) -> None:
    key = make_key(stack, "acme", ["webhook:manage"])
    with webhook_receiver() as receiver:
        urls = [u.format(port=receiver.port) for u in SPELLINGS]
        with inproc_client(stack) as client:
            answers = [
                client.post(
                    "/api/v1/webhooks",
                    json={"url": url, "event_types": ["task.completed"]},
                    headers=headers(key),
                )
                for url in urls
            ]
        runs = [
            subprocess.run(
                [sys.executable, "-m", "octollm.cli.main", "webhooks", "register", url,
                 "--event", "task.completed", "--tenant", "acme"],
                cwd=ROOT, env={**stack.env(), "COLUMNS": "500"}, capture_output=True,
                text=True, timeout=60, check=False,
            )
            for url in urls
        ]  # fmt: skip
        assert receiver.requests == [], "nothing connected to the loopback receiver"
    for url, resp in zip(urls, answers, strict=True):
        assert resp.status_code == 422, (url, resp.text)
        assert resp.json()["error"]["code"] == "WEBHOOK_TARGET_REFUSED"
        assert "address embedding" in resp.json()["error"]["message"], url
    for url, done in zip(urls, runs, strict=True):
        assert done.returncode == 2, (url, done.stdout, done.stderr)
        assert "address embedding" in " ".join(done.stderr.split()), url
    db = Database(stack.database_url)
    try:
        assert list_endpoints(db, "acme") == []
    finally:
        db.dispose()
