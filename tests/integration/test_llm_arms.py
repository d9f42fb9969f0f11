"""The HTTP chat client, the planner and the coder against a real OpenAI-protocol server.

``FakeLLM`` is a real HTTP server with scripted answers; everything of ours runs for real.
One test at the end talks to the real local model: the embedded llama.cpp server with
SmolLM2 (or the server ``OCTOLLM_TEST_LLM_URL`` points at).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.coder import CoderArm
from octollm.arms.planner import PlannerArm
from octollm.config.settings import LLMSettings
from octollm.contracts.plan import Plan
from octollm.errors import Cancelled, InvalidInput, LLMUnavailable, PermanentError, RateLimited
from octollm.llm import OpenAIChatClient, client_from_settings
from tests.support.fake_llm import FakeLLM, HTTPError, Reply
from tests.support.fake_llm import fake_llm as fake_llm  # the shared fixture, used below

IS_PRIME = "Write a Python function is_prime(n) and check it on 2, 15 and 17"
SCHEMA = {
    "title": "answer",
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
GOOD_CODE = """```python
def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))

if __name__ == "__main__":
    for n in (2, 15, 17):
        print(n, is_prime(n))
```
A trial-division primality test."""
BAD_CODE = "```python\ndef is_prime(n)\n    return n > 1\n```"


@pytest.fixture
def llm(fake_llm: FakeLLM) -> FakeLLM:
    return fake_llm


@pytest.fixture
def client(llm: FakeLLM) -> Iterator[OpenAIChatClient]:
    with OpenAIChatClient(
        llm.base_url, model="fake-model", api_key="sk-test-123", timeout_seconds=5
    ) as c:
        yield c


def context(client: OpenAIChatClient, **extra: Any) -> ArmContext:
    return ArmContext(task_id="task-1", step_id="s", attempt=1, goal=IS_PRIME, llm=client, **extra)


# -- the client -------------------------------------------------------------------------------


def test_a_chat_sends_model_messages_and_bearer_token_and_reads_text_and_usage(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(["hello there"])
    result = client.chat([{"role": "user", "content": "say hello"}], temperature=0.0, seed=7)
    assert result.text == "hello there"
    assert result.model == "fake-model"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (
        len("say hello") // 4,
        2,
    )
    sent = llm.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.json["messages"] == [{"role": "user", "content": "say hello"}]
    assert (sent.json["temperature"], sent.json["seed"], sent.json["max_tokens"]) == (0.0, 7, 768)
    assert "response_format" not in sent.json


def test_a_schema_is_requested_as_strict_json_schema_and_the_reply_is_parsed(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([{"answer": "42"}])
    result = client.chat([{"role": "user", "content": "answer"}], json_schema=SCHEMA)
    assert result.parsed == {"answer": "42"}
    assert llm.chat_requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
    }


def test_a_schema_with_a_free_form_object_is_not_sent_as_strict(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    schema = {"type": "object", "properties": {"input": {"type": "object"}}, "required": ["input"]}
    llm.script([{"input": {}}])
    client.chat([{"role": "user", "content": "x"}], json_schema=schema)
    assert llm.chat_requests[0]["response_format"]["json_schema"]["strict"] is False


def llama_cpp_like(request: dict[str, Any]) -> Any:
    """What llama-cpp-python 0.3.36's server does: 500 for json_schema, grammar for json_object."""
    if request.get("response_format", {}).get("type") == "json_schema":
        message = "1 validation error: ('body', 'response_format', 'type') Input should be 'text'"
        return HTTPError(500, {"error": {"message": message, "type": "internal_server_error"}})
    return {"answer": "from the grammar"}


def test_a_server_that_rejects_json_schema_is_asked_with_json_object_and_the_schema_from_then_on(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(llama_cpp_like)
    first = client.chat([{"role": "user", "content": "a"}], json_schema=SCHEMA)
    second = client.chat([{"role": "user", "content": "b"}], json_schema=SCHEMA)
    assert first.parsed == second.parsed == {"answer": "from the grammar"}
    formats = [r["response_format"]["type"] for r in llm.chat_requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert llm.chat_requests[1]["response_format"]["schema"] == SCHEMA
    assert llm.chat_requests[1]["messages"][0]["role"] == "system"
    assert client.structured_output == "json_object"


def test_without_structured_output_the_schema_travels_in_the_prompt_only(llm: FakeLLM) -> None:
    llm.script(['Sure! ```json\n{"answer": "fenced"}\n``` hope that helps'])
    with OpenAIChatClient(llm.base_url, model="m", structured_output="none") as plain:
        result = plain.chat([{"role": "user", "content": "q"}], json_schema=SCHEMA)
    assert result.parsed == {"answer": "fenced"}
    sent = llm.chat_requests[0]
    assert "response_format" not in sent
    assert '"answer"' in sent["messages"][0]["content"]


def test_unparsable_json_gets_one_repair_call_that_shows_the_bad_reply(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(['{"answer": "unterminated', {"answer": "fixed"}])
    result = client.chat([{"role": "user", "content": "q"}], json_schema=SCHEMA)
    assert result.parsed == {"answer": "fixed"}
    repair = llm.chat_requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"answer": "unterminated'}
    assert "not valid JSON" in repair[-1]["content"]
    assert (
        result.usage.completion_tokens
        == len('{"answer": "unterminated') // 4 + len('{"answer": "fixed"}') // 4
    )


def test_json_still_broken_after_the_repair_call_is_a_permanent_error(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(["no json here", "still none"])
    with pytest.raises(PermanentError) as caught:
        client.chat([{"role": "user", "content": "q"}], json_schema=SCHEMA)
    assert caught.value.details["reason"] == "LLM_BAD_JSON"
    assert len(llm.chat_requests) == 2


def test_http_429_raises_rate_limited_with_the_retry_after_header(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([HTTPError(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})])
    with pytest.raises(RateLimited) as caught:
        client.chat([{"role": "user", "content": "q"}])
    assert caught.value.retry_after == 1.0
    assert caught.value.retryable
    assert "slow down" in caught.value.message


def test_http_500_raises_llm_unavailable(llm: FakeLLM, client: OpenAIChatClient) -> None:
    llm.script([HTTPError(500, {"error": {"message": "boom"}})])
    with pytest.raises(LLMUnavailable, match="HTTP 500"):
        client.chat([{"role": "user", "content": "q"}])


def test_other_4xx_raise_a_permanent_error(llm: FakeLLM, client: OpenAIChatClient) -> None:
    llm.script([HTTPError(401, {"error": {"message": "bad key"}})])
    with pytest.raises(PermanentError, match="HTTP 401") as caught:
        client.chat([{"role": "user", "content": "q"}])
    assert not caught.value.retryable


def test_a_read_timeout_raises_llm_unavailable(llm: FakeLLM) -> None:
    llm.script([Reply("late", delay=1.0)])
    with (
        OpenAIChatClient(llm.base_url, model="m", timeout_seconds=0.2) as slow,
        pytest.raises(LLMUnavailable, match="timed out"),
    ):
        slow.chat([{"role": "user", "content": "q"}])


def test_an_unreachable_endpoint_raises_llm_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        OpenAIChatClient(f"http://127.0.0.1:{port}/v1", model="m", timeout_seconds=2) as dead,
        pytest.raises(LLMUnavailable, match="unreachable"),
    ):
        dead.chat([{"role": "user", "content": "q"}])


def test_embed_returns_one_vector_per_text_in_order(llm: FakeLLM, client: OpenAIChatClient) -> None:
    vectors = client.embed(["alpha", "beta", "alpha"])
    assert len(vectors) == 3
    assert all(len(v) == 8 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert llm.requests[0].json == {"model": "fake-model", "input": ["alpha", "beta", "alpha"]}


def test_the_client_is_built_from_settings_and_needs_a_base_url(llm: FakeLLM) -> None:
    settings = LLMSettings(base_url=llm.base_url, model="tiny", structured_output="json_object")
    with client_from_settings(settings) as built:
        assert (built.model, built.structured_output) == ("tiny", "json_object")
    with pytest.raises(InvalidInput, match="BASE_URL"):
        client_from_settings(LLMSettings())


def test_the_log_line_has_sizes_and_hashes_but_never_the_prompt_reply_or_key(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(["the secret reply"])
    with capture_logs() as logs:
        client.chat([{"role": "user", "content": "the private prompt"}])
    (line,) = [entry for entry in logs if entry["event"] == "llm_call"]
    assert line["status"] == 200
    assert line["model"] == "fake-model"
    assert line["completion_tokens"] == len("the secret reply") // 4
    assert {"duration_ms", "request_chars", "request_sha256", "reply_sha256"} <= set(line)
    dumped = json.dumps(logs)
    assert "private prompt" not in dumped
    assert "secret reply" not in dumped
    assert "sk-test-123" not in dumped


# -- the planner ------------------------------------------------------------------------------

MODEL_PLAN = {
    "steps": [
        {
            "step_id": "write",
            "arm": "coder",
            "action": "Write is_prime",
            "input": {},
            "depends_on": [],
            "critical": True,
        },
        {
            "step_id": "exec",
            "arm": "executor",
            "action": "Run it",
            "input": {},
            "depends_on": ["write"],
            "critical": True,
        },
        {
            "step_id": "judge",
            "arm": "judge",
            "action": "Check",
            "input": {},
            "depends_on": ["write", "exec"],
            "critical": True,
        },
    ],
    "rationale": "write, run, judge",
}


def test_the_planner_takes_a_valid_plan_from_the_model(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([MODEL_PLAN])
    result = call(PlannerArm(), {}, context(client))
    out = result.output
    assert out["source"] == "llm"
    assert out["fallback_reason"] is None
    plan = Plan.model_validate(out["plan"])
    assert [(s.step_id, s.arm, s.depends_on) for s in plan.steps] == [
        ("write", "coder", []),
        ("exec", "executor", ["write"]),
        ("judge", "judge", ["write", "exec"]),
    ]
    assert plan.step("write").input["instruction"] == IS_PRIME
    schema = llm.chat_requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["steps"]["items"]["properties"]["arm"]["enum"] == [
        "coder",
        "executor",
        "guardian",
        "judge",
        "retriever",
    ]
    assert result.model == "fake-model"


def test_the_planner_falls_back_with_a_reason_when_the_model_returns_garbage(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(["I am a tiny model", "and I cannot do JSON"])
    out = call(PlannerArm(), {}, context(client)).output
    assert out["source"] == "fallback"
    assert "ARM_FAILED" in out["fallback_reason"]
    assert "valid JSON" in out["fallback_reason"]
    assert [s["step_id"] for s in out["plan"]["steps"]] == ["code", "run", "verify"]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (HTTPError(500, {"error": {"message": "down"}}), "LLM_UNAVAILABLE"),
        (HTTPError(429, {"error": {"message": "busy"}}, {"Retry-After": "30"}), "RATE_LIMITED"),
    ],
)
def test_the_planner_falls_back_when_the_model_endpoint_fails(
    llm: FakeLLM, client: OpenAIChatClient, answer: HTTPError, code: str
) -> None:
    llm.script([answer])
    out = call(PlannerArm(), {}, context(client)).output
    assert out["source"] == "fallback"
    assert code in out["fallback_reason"]


def test_the_planner_falls_back_when_the_model_plan_misses_the_executor(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    plan = {"steps": [MODEL_PLAN["steps"][0], MODEL_PLAN["steps"][2]], "rationale": ""}  # type: ignore[index]
    plan["steps"][1] = {**plan["steps"][1], "depends_on": ["write"]}
    llm.script([plan])
    out = call(PlannerArm(), {}, context(client)).output
    assert out["source"] == "fallback"
    assert "leaves out executor" in out["fallback_reason"]


# -- the coder --------------------------------------------------------------------------------


def coder_input() -> dict[str, Any]:
    return {"instruction": IS_PRIME, "language": "python", "request_type": "generate"}


def test_the_coder_returns_checked_code_from_a_fenced_block(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([GOOD_CODE])
    out = call(CoderArm(), coder_input(), context(client)).output
    assert out["code"].startswith("def is_prime(n):")
    assert out["fix_attempts"] == 0
    assert out["explanation"] == "A trial-division primality test."
    assert out["warnings"] == []
    assert (out["language"], out["request_type"]) == ("python", "generate")
    prompt = llm.chat_requests[0]["messages"][1]["content"]
    assert 'if __name__ == "__main__":' in prompt


def test_the_coder_fixes_an_injected_syntax_error_within_two_attempts(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([BAD_CODE, GOOD_CODE])
    out = call(CoderArm(), coder_input(), context(client)).output
    assert out["fix_attempts"] == 1
    compile(out["code"], "<test>", "exec")
    fix_request = llm.chat_requests[1]["messages"][-1]["content"]
    assert "line 1" in fix_request
    assert "expected ':'" in fix_request


def test_the_coder_gives_up_after_two_fix_attempts_naming_the_syntax_error(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([BAD_CODE, BAD_CODE, BAD_CODE, GOOD_CODE])
    with pytest.raises(PermanentError) as caught:
        call(CoderArm(), coder_input(), context(client))
    assert "after 2 fix attempts" in caught.value.message
    assert "line 1: expected ':'" in caught.value.message
    assert caught.value.details["reason"] == "CODE_INVALID"
    assert len(llm.chat_requests) == 3


def test_the_coder_takes_code_from_a_json_code_field(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script([{"code": "print('hi')", "explanation": "prints hi", "confidence": 0.6}])
    out = call(CoderArm(), {"instruction": "print hi please"}, context(client)).output
    assert (out["code"], out["explanation"], out["confidence"]) == ("print('hi')", "prints hi", 0.6)


def test_the_coder_debugs_the_code_its_dependency_produced(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    llm.script(["```python\ndef add(a, b):\n    return a + b\n```"])
    ctx = context(client, dependencies={"code": {"code": "def add(a, b):\n    return a - b"}})
    out = call(CoderArm(), {"instruction": "add is wrong", "request_type": "debug"}, ctx).output
    assert "return a + b" in out["code"]
    assert "return a - b" in llm.chat_requests[0]["messages"][1]["content"]


def test_the_coder_stops_between_calls_when_the_task_is_cancelled(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    calls = 0

    def cancelled_after_the_first_call() -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise Cancelled("task cancelled")

    llm.script([BAD_CODE, GOOD_CODE])
    with pytest.raises(Cancelled):
        call(
            CoderArm(),
            coder_input(),
            context(client, check_cancelled=cancelled_after_the_first_call),
        )
    assert len(llm.chat_requests) == 1


# -- a real model, when one is configured --------------------------------------------------------


@pytest.fixture
def real_model_url(tmp_path: Any) -> Iterator[str]:
    """A real model: ``OCTOLLM_TEST_LLM_URL`` if set, else the embedded llama.cpp server."""
    url = os.environ.get("OCTOLLM_TEST_LLM_URL")
    if url:
        yield url
        return
    from octollm.embedded.llm_server import launch_llm_server

    server = launch_llm_server(log_dir=tmp_path)
    try:
        server.wait_ready(120)
        yield server.base_url
    finally:
        server.stop(10)


@pytest.mark.exclusive  # the real local model: CPU-bound, its time limits assume a quiet machine
@pytest.mark.slow
def test_the_planner_and_coder_work_end_to_end_against_a_real_model(real_model_url: str) -> None:
    url = real_model_url
    settings = LLMSettings(
        base_url=url, model=os.environ.get("OCTOLLM_TEST_LLM_MODEL", "smollm2-135m-instruct")
    )
    with client_from_settings(settings) as real:
        out = call(PlannerArm(), {}, context(real)).output
        plan = Plan.model_validate(out["plan"])
        assert plan.steps[-1].arm == "judge"
        assert out["source"] in {"llm", "fallback"}
        try:
            code = call(CoderArm(), coder_input(), context(real)).output
        except PermanentError as exc:  # a tiny model may not manage; the message must say why
            problem = exc.details.get("problem", "")
        else:
            compile(code["code"], "<real-model>", "exec")
            problem = "line 0: none"
        assert problem.startswith(("line ", "the reply holds no code"))
