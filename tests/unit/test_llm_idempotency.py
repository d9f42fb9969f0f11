"""LLM calls inside a step carry an Idempotency-Key derived from ctx.idempotency_key."""

from __future__ import annotations

from octollm.arms.base import step_idempotency_key
from octollm.llm import idempotency
from octollm.llm.client import OpenAIChatClient
from tests.support.fake_llm import FakeLLM


def _keys(llm: FakeLLM) -> list[str | None]:
    return [
        {k.lower(): v for k, v in r.headers.items()}.get("idempotency-key")
        for r in llm.requests
        if r.path.endswith("/chat/completions")
    ]


def test_a_steps_llm_calls_are_keyed_per_call_and_the_same_on_every_attempt() -> None:
    key = step_idempotency_key("task-1", "s1")
    assert key == step_idempotency_key("task-1", "s1") != step_idempotency_key("task-1", "s2")
    with FakeLLM(["a", "b", "a", "b", "c"]) as llm:
        client = OpenAIChatClient(llm.base_url, model="fake-model")
        for _attempt in range(2):
            with idempotency.scope(key):
                client.chat([{"role": "user", "content": "one"}])
                client.chat([{"role": "user", "content": "two"}])
        client.chat([{"role": "user", "content": "outside any step"}])
        client.close()
    assert _keys(llm) == [f"{key}-1", f"{key}-2", f"{key}-1", f"{key}-2", None]
