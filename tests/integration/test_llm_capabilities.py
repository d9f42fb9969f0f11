"""Structured-output probing: an endpoint sees at most one rejected request per process.

Against ``FakeLLM`` (a real OpenAI-protocol server) scripted like llama-cpp-python's server,
which rejects ``response_format: json_schema`` with a 500 (or a stricter server with 400).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from octollm.arms.boundary import call
from octollm.llm import OpenAIChatClient, capabilities
from tests.support.fake_llm import FakeLLM, HTTPError

GOAL = "Write a Python function is_prime(n) and check it on 2, 15 and 17"
SCHEMA = {
    "title": "answer",
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
#: The response_format schema as llama-cpp-python's FastAPI server publishes it.
LLAMA_CPP_OPENAPI = {
    "openapi": "3.1.0",
    "components": {
        "schemas": {
            "ChatCompletionRequestResponseFormat": {
                "properties": {
                    "type": {"type": "string", "enum": ["text", "json_object"]},
                    "schema": {},
                },
                "required": ["type"],
                "type": "object",
            }
        }
    },
}


def rejecting(status: int) -> Any:
    def answer(request: dict[str, Any]) -> Any:
        if request.get("response_format", {}).get("type") == "json_schema":
            message = "('body', 'response_format', 'type') Input should be 'text' or 'json_object'"
            return HTTPError(status, {"error": {"message": message}})
        return {"answer": "ok"}

    return answer


@pytest.fixture(autouse=True)
def fresh_capabilities() -> Iterator[None]:
    capabilities.forget_all()
    yield
    capabilities.forget_all()


def formats(llm: FakeLLM) -> list[str]:
    return [r.get("response_format", {}).get("type", "none") for r in llm.chat_requests]


@pytest.mark.parametrize("status", [500, 400])
def test_a_server_rejecting_json_schema_sees_exactly_one_rejected_request(status: int) -> None:
    with FakeLLM(rejecting(status)) as llm:
        clients = [OpenAIChatClient(llm.base_url, model="fake-model") for _ in range(3)]

        def ask(i: int) -> Any:
            return clients[i % 3].chat([{"role": "user", "content": f"q{i}"}], json_schema=SCHEMA)

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(ask, range(12)))
        for client in clients:
            client.close()
        url = llm.base_url
    assert all(r.parsed == {"answer": "ok"} for r in results)
    assert formats(llm).count("json_schema") == 1, formats(llm)
    assert formats(llm).count("json_object") == 12
    assert capabilities.known(url, "fake-model") == "json_object"


def test_a_server_that_describes_its_response_formats_is_never_sent_json_schema() -> None:
    with (
        FakeLLM(rejecting(500), openapi=LLAMA_CPP_OPENAPI) as llm,
        OpenAIChatClient(llm.base_url, model="fake-model") as client,
    ):
        for i in range(3):
            client.chat([{"role": "user", "content": f"q{i}"}], json_schema=SCHEMA)
    assert formats(llm) == ["json_object"] * 3
    assert [r.path for r in llm.requests if r.method == "GET"] == ["/openapi.json"]


def test_a_server_that_accepts_json_schema_keeps_getting_it_and_is_described_once() -> None:
    with (
        FakeLLM(lambda _: {"answer": "ok"}) as llm,
        OpenAIChatClient(llm.base_url, model="fake-model") as client,
    ):
        for i in range(3):
            client.chat([{"role": "user", "content": f"q{i}"}], json_schema=SCHEMA)
    assert formats(llm) == ["json_schema"] * 3
    assert len([r for r in llm.requests if r.method == "GET"]) == 1


def test_a_server_rejecting_both_forms_falls_back_to_the_prompt_once() -> None:
    def answer(request: dict[str, Any]) -> Any:
        if "response_format" in request:
            return HTTPError(422, {"error": {"message": "response_format is not supported"}})
        return {"answer": "ok"}

    with FakeLLM(answer) as llm, OpenAIChatClient(llm.base_url, model="fake-model") as client:
        for i in range(3):
            client.chat([{"role": "user", "content": f"q{i}"}], json_schema=SCHEMA)
    assert formats(llm) == ["json_schema", "json_object", "none", "none", "none"]


def test_the_openapi_reading_finds_the_accepted_types() -> None:
    assert capabilities.from_openapi(LLAMA_CPP_OPENAPI) == "json_object"
    described = {
        "components": {
            "schemas": {
                "ResponseFormat": {
                    "anyOf": [
                        {"properties": {"type": {"const": "text"}}},
                        {"properties": {"type": {"const": "json_schema"}}},
                    ]
                }
            }
        }
    }
    assert capabilities.from_openapi(described) == "json_schema"
    assert capabilities.from_openapi({"components": {"schemas": {"Other": {}}}}) is None
    assert capabilities.from_openapi("not json") is None


@pytest.mark.exclusive  # the real local model: CPU-bound, its time limits assume a quiet machine
@pytest.mark.slow
def test_the_embedded_llama_cpp_server_logs_no_500_during_a_planner_call(tmp_path: Path) -> None:
    """The real server describes itself (``/openapi.json``): no json_schema request is sent.

    On a loaded 2-core machine the grammar-constrained reply may outlast the short timeout; the
    planner then falls back. Either way the server must not have answered a 500."""
    from octollm.arms.base import ArmContext
    from octollm.arms.planner import PlannerArm
    from octollm.config.settings import LLMSettings
    from octollm.embedded.llm_server import launch_llm_server
    from octollm.llm import client_from_settings

    server = launch_llm_server(log_dir=tmp_path)
    try:
        server.wait_ready(120)
        settings = LLMSettings(
            base_url=server.base_url,
            model="smollm2-135m-instruct",
            max_tokens=96,
            timeout_seconds=30,
        )
        with client_from_settings(settings) as client:
            ctx = ArmContext(task_id="t", step_id="plan", attempt=1, goal=GOAL, llm=client)
            out = call(PlannerArm(), {}, ctx).output
    finally:
        server.stop(10)
    log = (tmp_path / "llm.log").read_text(errors="replace")
    assert '"GET /openapi.json HTTP/1.1" 200' in log, log[-2000:]
    assert " 500" not in log, log[-2000:]
    assert "Traceback" not in log
    assert out["source"] in {"llm", "fallback"}
