"""The Judge: syntax, names, lint, security, execution evidence, schema, criteria, verdict.

LLM-judged criteria run against ``FakeLLM``, a real OpenAI-protocol HTTP server with scripted
answers, through the real ``OpenAIChatClient``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from octollm.arms.base import Arm, ArmContext, ChatLLM
from octollm.arms.boundary import call
from octollm.arms.judge import JudgeArm
from octollm.arms.judging.lint import find_ruff, lint
from octollm.arms.registry import get_arm
from octollm.errors import Cancelled, InvalidInput, PermanentError
from octollm.llm.client import OpenAIChatClient
from tests.support.fake_llm import FakeLLM, HTTPError

GOOD = textwrap.dedent(
    '''
    """Arithmetic helpers."""


    def add(a: int, b: int) -> int:
        """Return the sum."""
        return a + b


    class Stack:
        """A stack."""

        def push(self, item: int) -> None:
            """Push."""
            self.items = [item]


    LIMIT = 10
    print("hello world")
    '''
).lstrip()


def ctx(
    dependencies: dict[str, dict[str, Any]] | None = None,
    llm: ChatLLM | None = None,
    criteria: list[str] | None = None,
) -> ArmContext:
    context = ArmContext(
        task_id="task-1",
        step_id="check",
        attempt=1,
        goal="write add()",
        dependencies=dependencies or {},
        acceptance_criteria=criteria or [],
    )
    if llm is not None:
        context.llm = llm
    return context


def judge(input: dict[str, Any], context: ArmContext | None = None) -> dict[str, Any]:
    """Run the Judge and check the invariants every verdict must keep."""
    result = call(JudgeArm(), input, context or ctx())
    out = result.output
    errors = [i for i in out["issues"] if i["severity"] == "error"]
    # Honest verdicts: an error makes it invalid; no error is valid only on evidence.
    assert out["valid"] is (out["verdict"] == "valid")
    assert (out["verdict"] == "invalid") is bool(errors)
    assert out["metadata"]["counts"]["error"] == len(errors)
    assert 0.0 <= out["quality_score"] <= 1.0
    assert 0.0 <= out["confidence"] <= 1.0
    assert result.confidence == out["confidence"]
    for issue in out["issues"]:
        assert issue["severity"] in {"error", "warning", "info"}
        assert {"severity", "type", "message"} <= set(issue)
    return out


def types(out: dict[str, Any], severity: str | None = None) -> list[str]:
    return [i["type"] for i in out["issues"] if severity is None or i["severity"] == severity]


# --- the arm and its verdict --------------------------------------------------------------


def test_the_judge_is_registered_as_an_arm() -> None:
    arm = get_arm("judge")
    assert isinstance(arm, JudgeArm)
    assert isinstance(arm, Arm)
    assert arm.capabilities == {
        "schema_validation", "criteria_validation", "quality_assessment", "code_analysis"
    }  # fmt: skip


def test_clean_code_with_its_required_names_is_valid_with_full_quality() -> None:
    out = judge({"code": GOOD, "required_names": ["add", "Stack", "Stack.push", "LIMIT"]})
    assert out["valid"] is True
    assert types(out, "error") == []
    assert out["quality_score"] == 1.0
    run = out["metadata"]["validation_types_run"]
    assert run[:2] == ["syntax", "required_names"]
    assert "security" in run
    assert run[-1] == "quality"


def test_a_syntax_error_is_reported_with_its_line_and_column() -> None:
    out = judge({"code": "def f(:\n    return 1\n"})
    (issue,) = [i for i in out["issues"] if i["type"] == "syntax_error"]
    assert issue["severity"] == "error"
    assert issue["location"]["line"] == 1
    assert issue["location"]["column"] >= 1
    assert out["valid"] is False


def test_a_missing_required_name_is_an_error() -> None:
    out = judge({"code": GOOD, "required_names": ["add", "multiply"]})
    (issue,) = [i for i in out["issues"] if i["type"] == "missing_name"]
    assert "`multiply`" in issue["message"]
    assert out["valid"] is False


def test_lint_findings_are_warnings_that_keep_the_artefact_valid() -> None:
    if find_ruff() is None:
        pytest.skip("ruff is not installed")
    out = judge({"code": "import os\n\n\ndef f() -> int:\n    return 1\n"})
    lint_issues = [i for i in out["issues"] if i["type"] == "style_issue"]
    assert lint_issues
    assert lint_issues[0]["severity"] == "warning"
    assert lint_issues[0]["message"].startswith("F401")
    assert lint_issues[0]["location"] == {"line": 1, "column": 8}
    assert out["valid"] is True
    assert out["quality_score"] < 1.0


def test_lint_is_skipped_with_an_info_issue_when_ruff_cannot_run(tmp_path: Any) -> None:
    issues, ran = lint("x = 1\n", timeout=5, ruff=str(tmp_path / "no-ruff-here"))
    assert ran is False
    assert [(i.severity, i.type) for i in issues] == [("info", "validation_skipped")]


# --- security rules -----------------------------------------------------------------------

SECURITY_CASES = {
    "eval": ("x = eval(input())", "eval-exec", "error"),
    "exec": ("exec('print(1)')", "eval-exec", "error"),
    "shell via alias": (
        "from subprocess import run as go\ngo('ls ' + path, shell=True)", "shell-true", "error"
    ),
    "shell via module": ("import subprocess\nsubprocess.Popen(c, shell=1)", "shell-true", "error"),
    "os.system": ("import os\nos.system('rm -rf ' + d)", "os-system", "error"),
    "pickle": ("import pickle\nobj = pickle.loads(blob)", "pickle-loads", "warning"),
    "yaml": ("import yaml\ncfg = yaml.load(text)", "yaml-load", "warning"),
    "__import__": ("mod = __import__(name)", "dunder-import", "warning"),
    "traversal": ("data = open('../../etc/passwd').read()", "path-traversal", "warning"),
    "aws key": ("KEY = 'AKIAZ7Q3T5K2M8P4R6W1'", "hard-coded-secret", "error"),
    "openai key": ("client = OpenAI(api_key='sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z')",
                   "hard-coded-secret", "error"),
    "password literal": ('db_password = "Xk9#mP2$vL8qR4"', "hard-coded-secret", "error"),
    "password kwarg": ('connect(password="Xk9#mP2$vL8qR4")', "hard-coded-secret", "error"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SECURITY_CASES))
def test_each_security_rule_fires_with_its_severity(case: str) -> None:
    code, rule, severity = SECURITY_CASES[case]
    out = judge({"code": code, "validation_types": ["security"]})
    found = [(i["message"].split("]")[0].lstrip("["), i["severity"]) for i in out["issues"]]
    assert (rule, severity) in found
    issue = next(i for i in out["issues"] if i["type"] == "security_issue")
    assert issue["location"]["line"] >= 1
    assert issue["suggestion"]
    assert "Xk9#mP2" not in issue["message"]  # the secret itself is never echoed


@pytest.mark.parametrize(
    "code",
    [
        "import subprocess\nsubprocess.run(['ls', path], check=True, shell=False)",
        "import os\npassword = os.environ['DB_PASSWORD']",
        "import yaml\ncfg = yaml.load(text, Loader=yaml.SafeLoader)",
        "import json\nobj = json.loads(blob)",
        "data = open('data/input.txt').read()",
        "password = ''\ntoken = None",
        "def evaluate(x: int) -> int:\n    return x",
    ],
)
def test_safe_code_raises_no_security_issue(code: str) -> None:
    out = judge({"code": code, "validation_types": ["security"]})
    assert types(out) == []


def test_other_languages_skip_python_checks_but_are_scanned_for_secrets() -> None:
    code = 'const key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z";\nfunction f( {'
    out = judge({"code": code, "language": "javascript"})
    assert "syntax_error" not in types(out)
    assert "validation_skipped" in types(out, "info")
    assert types(out, "error") == ["security_issue"]
    assert out["metadata"]["language"] == "javascript"


# --- dependencies: code, execution evidence, gaps -------------------------------------------


def test_code_is_taken_from_the_coder_dependency_when_absent_from_the_input() -> None:
    deps = {"write": {"code": "def add(a, b):\n    return a + b\n", "language": "python"}}
    out = judge({"required_names": ["add"]}, ctx(deps))
    assert out["valid"] is True
    assert out["metadata"]["code_source"] == "write"


def test_a_failed_execution_is_an_error_with_the_stderr_tail() -> None:
    deps: dict[str, dict[str, Any]] = {
        "write": {"code": GOOD},
        "run": {
            "exit_code": 1,
            "stdout": "",
            "stderr": "Traceback...\n  File 'x.py'\nZeroDivisionError: division by zero\n",
            "timed_out": False,
        },
    }
    out = judge({}, ctx(deps))
    (issue,) = [i for i in out["issues"] if i["type"] == "execution_failed"]
    assert "exited with code 1" in issue["message"]
    assert "ZeroDivisionError: division by zero" in issue["message"]
    assert issue["location"] == {"step_id": "run"}
    assert out["valid"] is False


def test_a_timed_out_execution_is_an_error() -> None:
    deps = {"run": {"exit_code": None, "stdout": "", "stderr": "", "timed_out": True}}
    out = judge({}, ctx(deps))
    assert any("timed out" in i["message"] for i in out["issues"] if i["severity"] == "error")


def test_stderr_in_an_issue_has_its_secrets_redacted() -> None:
    deps = {"run": {"exit_code": 2, "stderr": "auth failed for key AKIAZ7Q3T5K2M8P4R6W1"}}
    out = judge({}, ctx(deps))
    message = next(i["message"] for i in out["issues"] if i["type"] == "execution_failed")
    assert "AKIAZ7Q3T5K2M8P4R6W1" not in message
    assert "[AWS-KEY-REDACTED]" in message


def test_a_failed_optional_dependency_is_an_error_and_does_not_crash_the_judge() -> None:
    gap = {"_gap": {"status": "failed", "error": {"code": "ARM_FAILED", "message": "no model"}}}
    out = judge({"required_names": ["add"]}, ctx({"write": gap}))
    (issue,) = [i for i in out["issues"] if i["type"] == "dependency_failed"]
    assert issue["severity"] == "error"  # its output was needed: not a warning (issue 12)
    assert "ARM_FAILED" in issue["message"]
    assert "no model" in issue["message"]


def test_nothing_to_judge_is_a_warning_not_a_pass_in_silence() -> None:
    out = judge({})
    assert types(out) == ["nothing_to_validate"]
    assert out["valid"] is False
    assert out["verdict"] == "unverified"


# --- schema -------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["name", "age", "tags"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "email": {"type": "string", "format": "email"},
    },
    "additionalProperties": False,
}


def test_a_conforming_output_passes_the_schema() -> None:
    out = judge({"expected_schema": SCHEMA, "output": {"name": "a", "age": 3, "tags": ["x"]}})
    assert out["valid"] is True
    assert "schema" in out["metadata"]["validation_types_run"]


def test_each_schema_violation_is_an_issue_with_its_path() -> None:
    output = {"name": "", "tags": ["ok", 7], "extra": True}
    out = judge({"expected_schema": SCHEMA, "output": output})
    found = {(i["type"], i["location"]["path"]) for i in out["issues"]}
    assert found == {
        ("missing_field", "$"),
        ("constraint_violation", "$"),  # additionalProperties
        ("constraint_violation", "$.name"),
        ("invalid_type", "$.tags[1]"),
    }
    assert out["valid"] is False


def test_the_schema_is_checked_against_the_dependency_output_when_no_output_is_given() -> None:
    deps = {"fetch": {"name": "a", "age": -1, "tags": []}}
    out = judge({"expected_schema": SCHEMA}, ctx(deps))
    assert [i["location"]["path"] for i in out["issues"]] == ["$.age"]
    assert out["metadata"]["schema_checked"] == "fetch"


def test_an_invalid_schema_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not a valid JSON Schema"):
        call(JudgeArm(), {"expected_schema": {"type": "nonsense"}, "output": 1}, ctx())


# --- acceptance criteria (deterministic) ---------------------------------------------------

RUN_OK = {"run": {"exit_code": 0, "stdout": "hello world\n", "stderr": "", "timed_out": False}}


def test_deterministic_criteria_are_checked_directly() -> None:
    criteria = [
        "Defines a function `add`",
        "class Stack exists",
        "Runs without errors",
        'Prints "hello world"',
        "Has type hints and has docstrings",
        "At most 40 lines",
        "Does not use eval",
        "No security issues",
    ]
    out = judge({"code": GOOD, "acceptance_criteria": criteria}, ctx(RUN_OK))
    assert out["passed_criteria"] == criteria
    assert out["failed_criteria"] == []
    assert out["valid"] is True
    assert out["metadata"]["criteria_evidence"]["Runs without errors"].startswith("every")


def test_an_unmet_criterion_is_an_error_and_listed_as_failed() -> None:
    criteria = ["Defines a function `multiply`", 'Prints "goodbye"']
    out = judge({"code": GOOD, "acceptance_criteria": criteria}, ctx(RUN_OK))
    assert out["failed_criteria"] == criteria
    assert types(out, "error") == ["criteria_not_met", "criteria_not_met"]
    assert out["valid"] is False


def test_the_step_acceptance_criteria_from_the_context_are_judged_too() -> None:
    out = judge({"code": GOOD}, ctx(criteria=["defines add()"]))
    assert out["passed_criteria"] == ["defines add()"]


def test_a_criterion_without_a_rule_or_llm_is_ambiguous_not_failed() -> None:
    out = judge({"code": GOOD, "acceptance_criteria": ["Is idiomatic and elegant"]})
    assert types(out) == ["criteria_ambiguous"]
    assert out["issues"][0]["severity"] == "warning"
    assert out["metadata"]["ambiguous_criteria"] == ["Is idiomatic and elegant"]
    assert out["valid"] is False  # undecided is not passed: the verdict is unverified
    assert out["verdict"] == "unverified"


def test_printed_text_is_not_found_in_the_source_code_itself() -> None:
    deps = {"write": {"code": 'print("hello world")\n'}}
    out = judge({"acceptance_criteria": ['prints "hello world"']}, ctx(deps))
    assert types(out) == ["criteria_ambiguous"]


def test_output_text_given_by_the_caller_is_searched_for_printed_text() -> None:
    out = judge({"output": "result: 42", "acceptance_criteria": ["output contains '42'"]})
    assert out["passed_criteria"] == ["output contains '42'"]


def test_runs_without_error_is_ambiguous_when_nothing_ran() -> None:
    out = judge({"code": GOOD, "acceptance_criteria": ["runs without errors"]})
    assert types(out) == ["criteria_ambiguous"]


# --- acceptance criteria (LLM) --------------------------------------------------------------


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


def client(server: FakeLLM) -> OpenAIChatClient:
    return OpenAIChatClient(server.base_url, model="fake-judge", timeout_seconds=5)


def test_the_llm_judges_the_criteria_rules_cannot_decide(llm_server: FakeLLM) -> None:
    llm_server.script(
        [
            {"met": True, "evidence": "add() returns a + b"},
            {"met": False, "evidence": "no input validation"},
        ]
    )
    criteria = ["Is readable", "Validates its inputs", "Defines a function `add`"]
    with client(llm_server) as llm:
        out = judge(
            {"code": GOOD, "acceptance_criteria": criteria, "use_llm_criteria": True},
            ctx(llm=llm),
        )
    assert out["passed_criteria"] == ["Is readable", "Defines a function `add`"]
    assert out["failed_criteria"] == ["Validates its inputs"]
    assert "no input validation" in out["issues"][0]["message"]
    assert out["metadata"]["model"] == "fake-judge"
    assert len(llm_server.chat_requests) == 2  # the deterministic criterion needed no call
    request = llm_server.chat_requests[0]
    assert request["temperature"] == 0.0
    assert "def add" in request["messages"][1]["content"]


def test_an_unavailable_llm_makes_the_criterion_ambiguous(llm_server: FakeLLM) -> None:
    llm_server.script([HTTPError(503), HTTPError(503), HTTPError(503), HTTPError(503)])
    with client(llm_server) as llm:
        out = judge(
            {"code": GOOD, "acceptance_criteria": ["Is readable"], "use_llm_criteria": True},
            ctx(llm=llm),
        )
    assert types(out) == ["criteria_ambiguous"]
    assert "LLMUnavailable" in out["issues"][0]["message"]
    assert out["valid"] is False
    assert out["verdict"] == "unverified"


def test_an_incoherent_llm_reply_makes_the_criterion_ambiguous(llm_server: FakeLLM) -> None:
    llm_server.script(lambda body: "I think so, probably.")
    with client(llm_server) as llm:
        out = judge(
            {"code": GOOD, "acceptance_criteria": ["Is readable"], "use_llm_criteria": True},
            ctx(llm=llm),
        )
    assert types(out) == ["criteria_ambiguous"]


def test_no_configured_llm_makes_the_criterion_ambiguous() -> None:
    out = judge({"code": GOOD, "acceptance_criteria": ["Is readable"], "use_llm_criteria": True})
    assert types(out) == ["criteria_ambiguous"]


def test_cancellation_during_the_llm_criteria_propagates() -> None:
    class CancelledLLM:
        def chat(self, messages: list[dict[str, str]], **_: Any) -> Any:
            raise Cancelled("task cancelled")

    with pytest.raises(Cancelled):
        call(
            JudgeArm(),
            {"code": GOOD, "acceptance_criteria": ["Is readable"], "use_llm_criteria": True},
            ctx(llm=CancelledLLM()),
        )


def test_the_artefact_sent_to_the_llm_is_redacted(llm_server: FakeLLM) -> None:
    llm_server.script([{"met": True, "evidence": "ok"}])
    code = GOOD + "\nADMIN = 'jane.doe@example.com'\n"
    with client(llm_server) as llm:
        judge({"code": code, "acceptance_criteria": ["Is readable"], "use_llm_criteria": True},
              ctx(llm=llm))  # fmt: skip
    prompt = llm_server.chat_requests[0]["messages"][1]["content"]
    assert "jane.doe@example.com" not in prompt
    assert "[EMAIL-REDACTED]" in prompt


# --- input handling, layer selection, fail_on_invalid ---------------------------------------


def test_validation_types_select_the_layers() -> None:
    out = judge({"code": "import os\nx = eval('1')\n", "validation_types": ["syntax"]})
    assert out["metadata"]["validation_types_run"] == ["syntax", "quality"]
    assert out["valid"] is True


def test_octollm_layers_not_implemented_here_are_reported_as_skipped() -> None:
    out = judge({"output": {"a": 1}, "validation_types": ["facts", "schema"]})
    assert types(out, "info") == ["validation_skipped"]


def test_an_unknown_validation_type_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="unknown validation_types"):
        call(JudgeArm(), {"code": "x = 1", "validation_types": ["vibes"]}, ctx())


def test_malformed_input_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        call(JudgeArm(), {"code": 42}, ctx())


def test_fail_on_invalid_raises_a_permanent_error_listing_the_errors() -> None:
    with pytest.raises(PermanentError) as caught:
        call(JudgeArm(), {"code": "def f(:\n", "fail_on_invalid": True}, ctx())
    assert "syntax_error" in caught.value.message
    assert [i["type"] for i in caught.value.details["issues"]] == ["syntax_error"]
    assert caught.value.details["validation"]["valid"] is False


def test_fail_on_invalid_returns_normally_for_a_valid_artefact() -> None:
    out = judge({"code": GOOD, "fail_on_invalid": True})
    assert out["valid"] is True


def test_quality_falls_with_each_issue() -> None:
    clean = judge({"code": GOOD, "validation_types": ["security"]})["quality_score"]
    one = judge({"code": "eval('1')", "validation_types": ["security"]})["quality_score"]
    two = judge({"code": "eval('1')\nexec('2')", "validation_types": ["security"]})
    assert clean > one > two["quality_score"]
    assert two["metadata"]["counts"] == {"error": 2, "warning": 0, "info": 0}


def test_a_large_module_is_judged_in_one_pass() -> None:
    body = "\n\n".join(f"def f{i}(x: int) -> int:\n    return x + {i}" for i in range(3000))
    out = judge({"code": body, "required_names": ["f0", "f2999"], "validation_types": [
        "syntax", "required_names", "security"]})  # fmt: skip
    assert out["valid"] is True
