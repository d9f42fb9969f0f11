"""The typed arm boundary: input validated before ``run``, output checked before it is stored."""

from __future__ import annotations

from typing import Any

import pytest

from octollm.arms.base import Arm, ArmContext, ArmResult
from octollm.arms.boundary import call, encode_output, parse_input
from octollm.arms.guardian import GuardianArm
from octollm.arms.judge import JudgeArm
from octollm.arms.registry import BUILTIN_ARMS, get_arm
from octollm.contracts.arm_io import (
    ARM_CONTRACTS,
    JudgeInput,
    RetrieverIngestInput,
    RetrieverInput,
    RetrieverSearchInput,
)
from octollm.errors import InvalidInput, InvalidOutput
from tests.support.arms import MiscountArm, NoopArm, SleepArm


def ctx(**kw: Any) -> ArmContext:
    return ArmContext(task_id="t", step_id="s", attempt=1, goal="check the boundary", **kw)


def test_every_built_in_arm_declares_the_contract_models_of_its_name() -> None:
    assert set(ARM_CONTRACTS) == set(BUILTIN_ARMS)
    for name, (input_model, output_model) in ARM_CONTRACTS.items():
        arm = get_arm(name)
        assert isinstance(arm, Arm)
        assert (arm.input_model, arm.output_model) == (input_model, output_model)


def test_a_malformed_input_is_invalid_input_naming_the_field_before_the_arm_runs() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_input(JudgeArm(), {"code": 42})
    details = caught.value.details
    assert details["arm"] == "judge"
    assert details["model"] == "JudgeInput"
    assert [e["loc"] for e in details["errors"]] == ["code"]
    assert details["errors"][0]["type"] == "string_type"
    assert caught.value.retryable is False
    assert "code" in caught.value.message


def test_a_plugin_arm_gets_its_own_input_model_with_the_step_bookkeeping_kept() -> None:
    request = parse_input(SleepArm(), {"seconds": 0, "action": "wait", "_routing": {"x": 1}})
    assert request.seconds == 0
    assert request.model_extra == {"action": "wait", "_routing": {"x": 1}}
    with pytest.raises(InvalidInput) as caught:
        parse_input(SleepArm(), {"seconds": "soon"})
    assert caught.value.details["errors"][0]["loc"] == "seconds"


def test_the_retriever_input_picks_its_op_and_drops_the_step_keys() -> None:
    search = RetrieverInput.model_validate(
        {"query": "celery", "action": "search it", "acceptance_criteria": [], "_routing": {}}
    ).root
    assert isinstance(search, RetrieverSearchInput)
    ingest = RetrieverInput.model_validate(
        {"op": "ingest", "documents": [{"source": "a.md", "text": "hello"}]}
    ).root
    assert isinstance(ingest, RetrieverIngestInput)


@pytest.mark.parametrize(
    ("data", "loc"),
    [({"op": "delete"}, ""), ({"query": "x", "surprise": 1}, "search.surprise")],
)
def test_an_unknown_retriever_op_or_key_is_invalid_input(data: dict[str, Any], loc: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_input(get_arm("retriever"), data)
    assert [e["loc"] for e in caught.value.details["errors"]] == [loc]


def test_an_output_that_does_not_match_the_declared_model_is_invalid_output() -> None:
    with pytest.raises(InvalidOutput) as caught:
        call(MiscountArm(), {}, ctx())
    error = caught.value
    assert error.code == "INVALID_OUTPUT"
    assert error.retryable is False
    assert error.details["model"] == "CallsOutput"
    assert sorted(e["loc"] for e in error.details["errors"]) == ["calls", "extra"]


def test_a_plain_dict_output_is_checked_against_the_model_too() -> None:
    with pytest.raises(InvalidOutput):
        encode_output(NoopArm(), ArmResult(output={"ok": "not a flag", "more": 1}))
    stored = encode_output(MiscountArm(), ArmResult(output={"calls": 3}))
    assert stored.output == {"calls": 3}


def test_the_stored_output_holds_exactly_the_keys_the_arm_set() -> None:
    screened = call(GuardianArm(), {"text": "a harmless sentence"}, ctx()).output
    assert "edge_flag" not in screened  # an optional field the arm did not set stays absent
    flagged = call(
        GuardianArm(), {"text": "a harmless sentence"}, ctx(screening={"flagged": True})
    ).output
    assert flagged["edge_flag"] == {"policy": None, "kinds": []}


def test_a_model_instance_passes_through_and_runs_once() -> None:
    request = JudgeInput(code="x = 1\n")
    assert parse_input(JudgeArm(), request) is request
    out = call(JudgeArm(), request, ctx()).output
    assert out["verdict"] in {"valid", "unverified"}


class _Untyped:
    """An arm from before the typed boundary: no models, a dict in, a dict out."""

    name = "untyped"
    capabilities = frozenset({"old"})

    def run(self, input: dict[str, Any], ctx: ArmContext) -> ArmResult[dict[str, Any]]:
        return ArmResult(output=dict(input))


def test_an_arm_without_models_is_not_an_arm() -> None:
    assert not isinstance(_Untyped(), Arm)
    assert isinstance(MiscountArm(), Arm)
