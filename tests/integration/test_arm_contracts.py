"""Contract tests: every built-in arm's real output validates against its published model
(``octollm.contracts.arm_io``), and inputs the contract rejects are rejected at the arm's
boundary (``octollm.arms.boundary``, which every caller of an arm goes through).

The arms run for real: the LLM arms against ``FakeLLM`` (a real OpenAI-protocol server), the
executor in its sandbox, the retriever over Qdrant local mode with the fake server's
embeddings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from octollm.arms.base import ArmContext
from octollm.arms.boundary import call
from octollm.arms.registry import get_arm
from octollm.contracts.arm_io import (
    ARM_CONTRACTS,
    CoderInput,
    CoderOutput,
    ExecutorInput,
    ExecutorOutput,
    GuardianOutput,
    JudgeOutput,
    PlannerInput,
    PlannerOutput,
    RetrieverIngestOutput,
    RetrieverSearchOutput,
)
from octollm.errors import InvalidInput
from octollm.llm import OpenAIChatClient
from octollm.memory.embeddings import EndpointEmbedder
from octollm.memory.knowledge import QdrantKnowledgeBase
from octollm.memory.vectors import VectorStore, close_local_clients
from tests.support.fake_llm import FakeLLM

GOAL = "Write a Python function is_prime(n) and check it on 2, 15 and 17"
CODE = "def is_prime(n):\n    return n > 1 and all(n % d for d in range(2, n))\n"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def client(llm: FakeLLM) -> Iterator[OpenAIChatClient]:
    with OpenAIChatClient(llm.base_url, model="fake", timeout_seconds=5) as c:
        yield c


def ctx(**extra: Any) -> ArmContext:
    return ArmContext(task_id="task-c", step_id="s", attempt=1, goal=GOAL, **extra)


def valid(model: type[BaseModel], output: dict[str, Any]) -> BaseModel:
    return model.model_validate(output)


def test_every_builtin_arm_has_an_input_and_an_output_contract() -> None:
    assert set(ARM_CONTRACTS) == {"planner", "coder", "executor", "retriever", "judge", "guardian"}
    for arm in ARM_CONTRACTS:
        assert get_arm(arm).name == arm


def test_the_planner_output_matches_its_contract_from_the_model_and_from_the_fallback(
    llm: FakeLLM, client: OpenAIChatClient
) -> None:
    fallback = valid(PlannerOutput, call(get_arm("planner"), {}, ctx()).output)
    assert fallback.source == "fallback"  # type: ignore[attr-defined]
    plan = fallback.plan.model_dump()  # type: ignore[attr-defined]
    llm.script([{"steps": plan["steps"], "rationale": "as planned"}])
    from_model = valid(PlannerOutput, call(get_arm("planner"), {}, ctx(llm=client)).output)
    assert from_model.source == "llm"  # type: ignore[attr-defined]
    PlannerInput.model_validate({"goal": GOAL, "constraints": ["no network"], "arms": ["coder"]})


@pytest.mark.parametrize("request_type", ["generate", "explain"])
def test_the_coder_output_matches_its_contract(
    llm: FakeLLM, client: OpenAIChatClient, request_type: str
) -> None:
    llm.script(
        [f"```python\n{CODE}```\nTrial division." if request_type != "explain" else "It checks."]
    )
    step = {"instruction": GOAL, "request_type": request_type, "existing_code": CODE}
    CoderInput.model_validate(step)
    out = valid(CoderOutput, call(get_arm("coder"), step, ctx(llm=client)).output)
    assert out.request_type == request_type  # type: ignore[attr-defined]


def test_the_coder_contract_and_arm_both_reject_an_unknown_request_type(
    client: OpenAIChatClient,
) -> None:
    with pytest.raises(ValidationError):
        CoderInput.model_validate({"request_type": "poem"})
    with pytest.raises(InvalidInput):
        call(get_arm("coder"), {"request_type": "poem"}, ctx(llm=client))


@pytest.mark.parametrize(
    "step",
    [
        {"language": "python", "code": "print(6 * 7)"},
        {"language": "shell", "command": "echo contract"},
    ],
)
def test_the_executor_output_matches_its_contract(step: dict[str, Any]) -> None:
    ExecutorInput.model_validate(step)
    out = valid(ExecutorOutput, call(get_arm("executor"), step, ctx()).output)
    assert out.exit_code == 0  # type: ignore[attr-defined]


def test_the_executor_contract_and_arm_both_reject_an_out_of_range_timeout() -> None:
    step = {"language": "python", "code": "pass", "timeout_seconds": 1000}
    with pytest.raises(ValidationError):
        ExecutorInput.model_validate(step)
    with pytest.raises(InvalidInput):
        call(get_arm("executor"), step, ctx())


def test_the_judge_output_matches_its_contract_for_valid_and_invalid_code() -> None:
    good = valid(JudgeOutput, call(get_arm("judge"), {"code": CODE}, ctx()).output)
    bad = valid(JudgeOutput, call(get_arm("judge"), {"code": "def f(:\n"}, ctx()).output)
    assert good.valid  # type: ignore[attr-defined]
    assert not bad.valid  # type: ignore[attr-defined]


def test_the_guardian_output_matches_its_contract_for_text_and_for_dependencies() -> None:
    text = {"text": "write to alice@example.com"}
    valid(GuardianOutput, call(get_arm("guardian"), text, ctx()).output)
    deps = ctx(dependencies={"a": {"note": "card 4111 1111 1111 1111"}})
    out = valid(GuardianOutput, call(get_arm("guardian"), {}, deps).output)
    assert out.sanitized_outputs == {"a": {"note": "card [CC-REDACTED]"}}  # type: ignore[attr-defined]


def test_the_retriever_outputs_match_their_contracts(llm: FakeLLM, tmp_path: Path) -> None:
    path = tmp_path / "qdrant"
    with OpenAIChatClient(llm.base_url, model="fake") as embedding_client:
        embedder = EndpointEmbedder(embedding_client, dim=8, model_name="fake")
        kb = QdrantKnowledgeBase(embedder, VectorStore(path=path, dim=8)).for_tenant("acme")
        try:
            arm, context = get_arm("retriever"), ctx(services={"knowledge": kb})
            docs = [{"source": "a.md", "text": "Celery workers consume tasks from Redis."}]
            ingest = call(arm, {"op": "ingest", "documents": docs}, context).output
            valid(RetrieverIngestOutput, ingest)
            for method in ("vector", "keyword", "hybrid"):
                found = call(arm, {"query": "Celery workers", "method": method}, context).output
                valid(RetrieverSearchOutput, found)
        finally:
            close_local_clients(path)
