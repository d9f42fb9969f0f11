"""Edge guards on a real API process: a foreign-Origin WebSocket is closed with 1008 before it
can authenticate or subscribe; a 2 MiB task submission gets 413 problem JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.support.apiserver import api_server, headers, make_key
from tests.support.stack import LiveStack, live_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(tmp_path) as s:  # this run's Redis DB (TEST_REDIS_DB)
        yield s


def test_a_websocket_from_a_foreign_origin_is_refused_with_1008_even_with_a_valid_key(
    stack: LiveStack,
) -> None:
    key = make_key(stack, "acme")
    evil = Origin("http://evil.example")
    with api_server(stack) as api:
        with (
            connect(f"{api.ws_url}/ws/hijack?api_key={key}", origin=evil) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
        same_origin = Origin(f"http://127.0.0.1:{api.port}")
        with connect(f"{api.ws_url}/ws/own-page?api_key={key}", origin=same_origin) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
        with connect(f"{api.ws_url}/ws/a-program?api_key={key}") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "welcome"
    with (
        api_server(stack, "api-allow", ws_allowed_origins=[evil]) as api,
        connect(f"{api.ws_url}/ws/allowed?api_key={key}", origin=evil) as ws,
    ):
        assert json.loads(ws.recv(timeout=5))["type"] == "welcome"


def test_a_2_mib_submission_gets_413_problem_json_and_a_small_one_is_accepted(
    stack: LiveStack,
) -> None:
    key = make_key(stack, "acme")
    with api_server(stack) as api:
        big = httpx.post(
            f"{api.url}/api/v1/tasks",
            content=json.dumps({"goal": "x" * (2 * 1024 * 1024)}),
            headers={**headers(key), "Content-Type": "application/json"},
            timeout=30,
        )
        small = httpx.post(
            f"{api.url}/api/v1/tasks", json={"goal": "a small goal"}, headers=headers(key)
        )
    assert big.status_code == 413
    problem = big.json()
    assert problem["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert problem["error"]["details"] == {"max_bytes": 1024 * 1024}
    assert problem["request_id"]
    assert small.status_code == 202
