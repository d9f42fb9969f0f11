"""Agent quality: how often the orchestrator's plan -> run -> judge -> repair loop delivers an
answer that is actually right, with 0, 1 and 2 repair rounds.

Goals (``GOALS``): 12 small Python functions and 6 questions over 3 short documents that the
benchmark ingests first. Each goal is submitted as a normal task (the planner plans it, the
coder / retriever / executor / judge run it on real worker pools, the orchestrator integrates,
judges and repairs) with ``budget.max_repair_rounds`` set to the round setting. The benchmark
then grades the task's result with checks it holds privately (never in the goal text, so the
model never sees them):

* code goals: hidden test cases run on the returned function in a separate Python process
  (``python -I``, CPU/memory limits, 10 s timeout, ``input()`` raises);
* question goals: the expected facts must appear in the answer and the citations must name
  the document that holds them.

A goal passes only when the hidden checks pass, whatever the task's own status says; the
report also counts "claimed": tasks that ended ``completed`` although the hidden checks fail.

Every round setting runs each goal as its own task (no reuse of an earlier setting's answer).
One stack serves the whole run: the embedded services (or the configured ones), one worker per
pool, one model server.

    python benchmarks/agent_quality.py                       # embedded SmolLM2, all goals
    python benchmarks/agent_quality.py --goals 6 --rounds 0,2
    python benchmarks/agent_quality.py --only code-factorial,q-cafe-open
    python benchmarks/agent_quality.py --model-path /path/model.gguf --label gemma3-270m
    python benchmarks/agent_quality.py --base-url http://host:8000/v1 --model NAME

Services: a variable ``OCTOLLM_DATABASE__URL`` / ``OCTOLLM_BROKER__URL`` / ``OCTOLLM_LLM__BASE_URL``
that is set is used; what is unset is started embedded under ``--data-dir`` (default: a fresh
temporary directory). Results: ``--json`` (default ``benchmarks/results/agent_quality-<label>
.json``) and ``--markdown`` (a table for ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from octollm.contracts import TaskContract  # noqa: E402
from octollm.memory.readers import read_document  # noqa: E402
from octollm.orchestrator.runtime import Runtime  # noqa: E402

TERMINAL = ("completed", "failed", "cancelled")
DEFAULT_ROUNDS = (0, 1, 2)
POOLS = ("orchestrator", "planner", "coder", "executor", "judge", "retriever", "guardian")


# -- the goals and their private checks ------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    id: str
    kind: str  # "code" | "question"
    goal: str
    #: code: the function's name and hidden ``(args, expected)`` cases.
    function: str = ""
    cases: tuple[tuple[tuple[Any, ...], Any], ...] = ()
    #: question: each inner tuple is a fact, given as alternatives (any one may appear).
    facts: tuple[tuple[str, ...], ...] = ()
    document: str = ""


def _code(gid: str, function: str, text: str, cases: Sequence[tuple[tuple[Any, ...], Any]]) -> Goal:
    return Goal(f"code-{gid}", "code", text, function=function, cases=tuple(cases))


def _question(gid: str, text: str, facts: Sequence[Sequence[str]], document: str) -> Goal:
    return Goal(
        f"q-{gid}", "question", text, facts=tuple(tuple(f) for f in facts), document=document
    )


GOALS: tuple[Goal, ...] = (
    _code("is-prime", "is_prime",
          "Write a Python function is_prime(n) that returns True when n is a prime number. "
          "Check it on 7.",
          [((0,), False), ((1,), False), ((2,), True), ((9,), False), ((17,), True),
           ((25,), False), ((97,), True)]),
    _code("factorial", "factorial",
          "Write a Python function factorial(n) that returns n! for a non-negative integer n. "
          "Check it on 4.",
          [((0,), 1), ((1,), 1), ((5,), 120), ((10,), 3628800)]),
    _code("fibonacci", "fibonacci",
          "Write a Python function fibonacci(n) that returns the n-th Fibonacci number, with "
          "fibonacci(0) == 0 and fibonacci(1) == 1. Check it on 6.",
          [((0,), 0), ((1,), 1), ((2,), 1), ((10,), 55), ((20,), 6765)]),
    _code("reverse-words", "reverse_words",
          "Write a Python function reverse_words(s) that returns the words of the string s in "
          "reverse order, joined by single spaces. Check it on 'red green'.",
          [(("hello world",), "world hello"), (("a b c",), "c b a"), (("one",), "one")]),
    _code("palindrome", "is_palindrome",
          "Write a Python function is_palindrome(s) that returns True when the string s reads "
          "the same backwards, ignoring upper and lower case. Check it on 'Noon'.",
          [(("Racecar",), True), (("hello",), False), (("",), True), (("abca",), False)]),
    _code("count-vowels", "count_vowels",
          "Write a Python function count_vowels(s) that returns how many vowels (a, e, i, o, u, "
          "in either case) the string s contains. Check it on 'banana'.",
          [(("hello",), 2), (("xyz",), 0), (("AEIOU",), 5), (("Programming",), 3)]),
    _code("gcd", "gcd",
          "Write a Python function gcd(a, b) that returns the greatest common divisor of two "
          "non-negative integers. Check it on 8 and 12.",
          [((12, 18), 6), ((7, 5), 1), ((0, 9), 9), ((100, 75), 25)]),
    _code("sum-digits", "sum_digits",
          "Write a Python function sum_digits(n) that returns the sum of the decimal digits of "
          "a non-negative integer n. Check it on 45.",
          [((123,), 6), ((0,), 0), ((9999,), 36), ((1005,), 6)]),
    _code("max-list", "max_of_list",
          "Write a Python function max_of_list(xs) that returns the largest number in a "
          "non-empty list xs without using the built-in max. Check it on [1, 4, 2].",
          [(([3, 1, 2],), 3), (([-5, -2, -9],), -2), (([7],), 7)]),
    _code("celsius", "celsius_to_fahrenheit",
          "Write a Python function celsius_to_fahrenheit(c) that converts degrees Celsius to "
          "degrees Fahrenheit. Check it on 37.",
          [((0,), 32), ((100,), 212), ((-40,), -40)]),
    _code("word-count", "word_count",
          "Write a Python function word_count(s) that returns the number of words in the "
          "string s, words being separated by any whitespace. Check it on 'to be or not'.",
          [(("a b  c",), 3), (("",), 0), (("  hello  ",), 1), (("one\ttwo\nthree",), 3)]),
    _code("fizzbuzz", "fizzbuzz",
          "Write a Python function fizzbuzz(n) that returns 'Fizz' when n is divisible by 3, "
          "'Buzz' when divisible by 5, 'FizzBuzz' when divisible by both, else str(n). "
          "Check it on 9.",
          [((3,), "Fizz"), ((5,), "Buzz"), ((15,), "FizzBuzz"), ((7,), "7"), ((30,), "FizzBuzz")]),
    _question("cafe-open", "According to the documents, at what time does the Orbital Cafe open "
              "on weekdays?", [("7:30", "7.30", "half past seven")], "orbital-cafe.md"),
    _question("cafe-speciality", "According to the documents, what is the house speciality of "
              "the Orbital Cafe?", [("cardamom",)], "orbital-cafe.md"),
    _question("bike-day", "According to the documents, how much does a Zephyr city bike cost "
              "per day?", [("15",)], "zephyr-bikes.md"),
    _question("bike-return", "According to the documents, where must Zephyr bikes be "
              "returned?", [("harbour street",)], "zephyr-bikes.md"),
    _question("lab-laser", "According to the documents, who must approve lasers above class 2 "
              "in the Lumen Lab?", [("okafor",)], "lumen-lab.md"),
    _question("lab-shower", "According to the documents, where is the emergency shower of the "
              "Lumen Lab?", [("door b",)], "lumen-lab.md"),
)  # fmt: skip

DOCUMENTS: dict[str, str] = {
    "orbital-cafe.md": (
        "# Orbital Cafe\n\nThe Orbital Cafe opens at 7:30 on weekdays and closes at 18:00. "
        "On Saturdays it opens at 9:00; it is closed on Sundays.\n\n"
        "The house speciality of the Orbital Cafe is cardamom bread, baked every morning.\n"
    ),
    "zephyr-bikes.md": (
        "# Zephyr bike rental\n\nA Zephyr city bike costs 4 euros per hour or 15 euros per "
        "day. Helmets are lent for free.\n\n"
        "Zephyr bikes must be returned to the Harbour Street station before 22:00.\n"
    ),
    "lumen-lab.md": (
        "# Lumen Lab safety rules\n\nLab coats and goggles are mandatory in the Lumen Lab. "
        "The emergency shower of the Lumen Lab is next to door B.\n\n"
        "Lasers above class 2 may only be used with the written approval of Dr. Okafor.\n"
    ),
}


# -- grading ---------------------------------------------------------------------------------

_RUNNER = r"""
import builtins, contextlib, io, json, sys
job = json.loads(sys.stdin.read())
real_stdout = sys.stdout
def _no_input(*a, **k):
    raise EOFError("input() is not available")
builtins.input = _no_input
out = {"error": None, "cases": []}
ns = {"__name__": "solution"}
printed = contextlib.redirect_stdout(io.StringIO())  # the code's own prints stay out
printed.__enter__()
try:
    exec(compile(job["code"], "solution.py", "exec"), ns)
except BaseException as exc:
    out["error"] = "the code does not load: %s: %s" % (type(exc).__name__, exc)
else:
    fn = ns.get(job["function"])
    if not callable(fn):
        out["error"] = "no function %s" % job["function"]
    else:
        for args, expected in job["cases"]:
            try:
                got = fn(*args)
                ok = got == expected
            except BaseException as exc:
                got, ok = "raised %s: %s" % (type(exc).__name__, exc), False
            out["cases"].append({"args": args, "expected": expected, "got": repr(got), "ok": ok})
real_stdout.write(json.dumps(out))
"""
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)


def _limits() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (5, 5))
    resource.setrlimit(resource.RLIMIT_AS, (512 * 1024 * 1024, 512 * 1024 * 1024))


def hidden_code_checks(code: str, goal: Goal, timeout: float = 10.0) -> dict[str, Any]:
    """Run ``goal``'s hidden cases on ``code`` in a fresh, limited Python process."""
    job = {"code": code, "function": goal.function, "cases": [list(c) for c in goal.cases]}
    with tempfile.TemporaryDirectory(prefix="agentq-") as scratch:
        try:
            done = subprocess.run(  # our own interpreter, the code on stdin
                [sys.executable, "-I", "-c", _RUNNER],
                input=json.dumps(job),
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=scratch,
                env={"PATH": "/usr/bin:/bin"},
                preexec_fn=_limits,  # limits set in the child before exec
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"passed": False, "why": f"the hidden checks timed out after {timeout:g}s"}
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"passed": False, "why": f"the checker crashed: {done.stderr[-300:]}"}
    if out["error"]:
        return {"passed": False, "why": out["error"]}
    failed = [c for c in out["cases"] if not c["ok"]]
    why = "; ".join(f"{goal.function}{tuple(c['args'])} -> {c['got']}" for c in failed[:4])
    return {
        "passed": not failed,
        "cases": f"{len(out['cases']) - len(failed)}/{len(out['cases'])}",
        "why": ("expected other results: " + why) if failed else "",
    }


def code_of(result: dict[str, Any], function: str) -> str | None:
    """The code the task returned: the artefact defining ``function``, else a code block."""
    artefacts = result.get("artefacts") or {}
    pieces = [a.get("content") for a in artefacts.values() if isinstance(a, dict)]
    pieces += _CODE_BLOCK.findall(str(result.get("answer") or ""))
    texts = [p for p in pieces if isinstance(p, str) and p.strip()]
    defining = [t for t in texts if re.search(rf"\bdef\s+{re.escape(function)}\s*\(", t)]
    return (defining or texts or [None])[-1]


def grade(goal: Goal, result: dict[str, Any]) -> dict[str, Any]:
    """The hidden checks of ``goal`` on a task's result: ``{passed, why, ...}``."""
    if goal.kind == "code":
        code = code_of(result, goal.function)
        if code is None:
            return {"passed": False, "why": "no code in the result"}
        return hidden_code_checks(code, goal)
    answer = str(result.get("answer") or "").lower()
    missing = [alts[0] for alts in goal.facts if not any(a.lower() in answer for a in alts)]
    sources = {str(c.get("source")) for c in result.get("citations") or [] if isinstance(c, dict)}
    cited = goal.document in sources
    why = []
    if missing:
        why.append("the answer lacks " + ", ".join(repr(m) for m in missing))
    if not cited:
        why.append(f"{goal.document} is not cited (cited: {sorted(sources) or 'nothing'})")
    return {"passed": not why, "cited": cited, "why": "; ".join(why)}


# -- running ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    goal: str
    kind: str
    max_repair_rounds: int
    task_id: str
    status: str
    verdict: str | None
    rounds: int
    passed: bool
    why: str
    tokens: int
    seconds: float
    error_code: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def claimed(self) -> bool:
        """The task said ``completed`` although the hidden checks fail."""
        return self.status == "completed" and not self.passed


def ingest(rt: Runtime, tenant: str, timeout: float = 600.0) -> dict[str, str]:
    """Put ``DOCUMENTS`` into ``tenant``'s knowledge base; their statuses by file name."""
    from octollm.orchestrator.engine import documents as intake
    from octollm.orchestrator.recovery import reconciler
    from octollm.store import documents as document_repo

    ids = {}
    for name, text in DOCUMENTS.items():
        data = text.encode()
        row = intake.add(rt, tenant, read_document(name, data), filename=name, size_bytes=len(data))
        ids[row.id] = name
    deadline = time.monotonic() + timeout
    while True:
        with rt.db.session() as session:
            views = {i: document_repo.get(session, tenant, i) for i in ids}
        status = {ids[i]: (v.status if v is not None else "missing") for i, v in views.items()}
        if all(s != "ingesting" for s in status.values()) or time.monotonic() > deadline:
            return status
        reconciler.reconcile(rt)
        time.sleep(0.5)


def rules_plan(goal: str) -> dict[str, Any]:
    """The plan the planner falls back to (its keyword rules), with its integrate step."""
    from octollm.arms import integration
    from octollm.arms.plan_rules import fallback_plan
    from octollm.contracts.plan import BUILTIN_ARMS

    plan = integration.with_integration(fallback_plan(goal, frozenset(BUILTIN_ARMS)))
    return plan.model_dump(mode="json")


def run_goal(
    rt: Runtime,
    goal: Goal,
    max_repair_rounds: int,
    tenant: str,
    timeout: float,
    plan_mode: str = "llm",
    derive: Sequence[int] = (),
) -> list[Outcome]:
    """Submit ``goal`` as a task, wait for it (driving the reconciler), grade its result.

    ``plan_mode``: ``llm`` lets the planner arm plan (the normal path); ``rules`` submits the
    planner's rule-based plan explicitly, saving one model call per task.
    """
    from octollm.cli.record import task_record
    from octollm.orchestrator.engine import lifecycle
    from octollm.orchestrator.recovery import reconciler

    contract = TaskContract.model_validate(
        {
            **({"plan": rules_plan(goal.goal)} if plan_mode == "rules" else {}),
            "goal": goal.goal,
            "budget": {"max_repair_rounds": max_repair_rounds, "max_time_seconds": int(timeout)},
            "metadata": {"benchmark": "agent_quality", "goal": goal.id},
        }
    )
    started = time.monotonic()
    task = lifecycle.submit(rt, contract, tenant=tenant)
    last_reconcile = started
    interval = rt.settings.orchestrator.reconcile_interval_seconds
    while True:
        record = task_record(rt, task.id)
        assert record is not None
        if record["status"] in TERMINAL:
            break
        if time.monotonic() - started > timeout + 30:
            lifecycle.cancel(rt, task.id)
            record = task_record(rt, task.id) or record
            record["status"] = "timed out"
            break
        if time.monotonic() - last_reconcile > interval:
            reconciler.reconcile(rt)
            last_reconcile = time.monotonic()
        time.sleep(0.25)
    seconds = time.monotonic() - started
    result = record.get("result") or {}
    graded = grade(goal, result)
    verdict_rounds = [r for r in record.get("rounds") or [] if r.get("kind") == "verdict"]
    own = _final(goal, record, result, graded, verdict_rounds, max_repair_rounds, seconds)
    derived = []
    for setting in sorted(set(derive) - {max_repair_rounds}):
        cut = verdict_rounds[setting] if setting < len(verdict_rounds) else None
        if cut is not None and cut.get("decision") == "repair":  # the run went on past it
            derived.append(_prefix(rt, goal, record, verdict_rounds, setting))
        else:  # the run ended before it needed more rounds than ``setting`` allows
            derived.append(replace(own, max_repair_rounds=setting,
                                   detail={**own.detail, "derived": "same run"}))  # fmt: skip
    return sorted([*derived, own], key=lambda o: o.max_repair_rounds)


def _final(
    goal: Goal,
    record: dict[str, Any],
    result: dict[str, Any],
    graded: dict[str, Any],
    verdict_rounds: list[dict[str, Any]],
    max_repair_rounds: int,
    seconds: float,
) -> Outcome:
    return Outcome(
        goal=goal.id,
        kind=goal.kind,
        max_repair_rounds=max_repair_rounds,
        task_id=record["task_id"],
        status=record["status"],
        verdict=record.get("verdict"),
        rounds=len(verdict_rounds),
        passed=bool(graded["passed"]),
        why=str(graded.get("why") or ""),
        tokens=int(record.get("tokens_used") or 0),
        seconds=round(seconds, 1),
        error_code=(record.get("error") or {}).get("code"),
        detail={
            "steps": [f"{s['step_id']}:{s['arm']}:{s['status']}" for s in record["steps"]],
            "answer": str(result.get("answer") or "")[:600],
            **{k: v for k, v in graded.items() if k not in ("passed", "why")},
        },
    )


_ROUND = re.compile(r"\.r(\d+)$")


def _round_of(step_id: str) -> int:
    found = _ROUND.search(step_id)
    return int(found.group(1)) if found else 1


def _prefix(
    rt: Runtime,
    goal: Goal,
    record: dict[str, Any],
    verdict_rounds: list[dict[str, Any]],
    setting: int,
) -> Outcome:
    """What the task would have ended with under ``max_repair_rounds = setting``: the same
    run cut after verdict round ``setting + 1`` (that verdict was invalid, or there would be no
    later round), graded on that round's steps. Tokens: the steps up to that round; time: up to
    that round's judge step."""
    from datetime import datetime

    from octollm.orchestrator.answering.integration import integrate
    from octollm.store import steps as step_repo

    last = setting + 1
    with rt.db.session() as session:
        rows = step_repo.for_task(session, record["task_id"])
        outputs = step_repo.outputs(session, record["task_id"], [r.step_id for r in rows])
    latest: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: _round_of(r.step_id)):
        if _round_of(row.step_id) <= last:
            latest[_ROUND.sub("", row.step_id)] = row
    result = integrate(list(latest.values()), outputs)
    graded = grade(goal, result)
    used = [r for r in rows if _round_of(r.step_id) <= last]
    judged = [r.finished_at for r in used if r.arm == "judge" and r.finished_at is not None]
    created = record.get("created_at")
    seconds = (
        (max(judged) - datetime.fromisoformat(created)).total_seconds()
        if judged and created
        else 0.0
    )
    return Outcome(
        goal=goal.id,
        kind=goal.kind,
        max_repair_rounds=setting,
        task_id=record["task_id"],
        status="failed",  # the verdict of round ``last`` was invalid: no round left to repair
        verdict="invalid",
        rounds=last,
        passed=bool(graded["passed"]),
        why=str(graded.get("why") or ""),
        tokens=sum(int(r.tokens_used) for r in used),
        seconds=round(seconds, 1),
        error_code="VERDICT_INVALID",
        detail={
            "derived": f"cut after verdict round {last} of {len(verdict_rounds)}",
            "answer": str(result.get("answer") or "")[:600],
            **{k: v for k, v in graded.items() if k not in ("passed", "why")},
        },
    )


def run_suite(
    rt: Runtime,
    goals: Sequence[Goal],
    rounds: Sequence[int],
    *,
    tenant: str,
    timeout: float,
    plan_mode: str = "llm",
    derive: bool = False,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Every goal under every round setting, one task at a time (per-goal times stay clean).

    ``derive``: one task per goal, under the largest setting; the smaller settings are read
    off the same run (cut after round ``setting + 1``; see ``_prefix``), a third of the CPU.
    """
    outcomes = []
    settings = [max(rounds)] if derive else list(rounds)
    for setting in settings:
        for goal in goals:
            made = run_goal(
                rt, goal, setting, tenant, timeout, plan_mode, derive=rounds if derive else ()
            )
            outcomes += made
            if progress is not None:
                for outcome in made:
                    progress(outcome)
    return outcomes


# -- reporting -------------------------------------------------------------------------------


def summary(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    rows = []
    for setting in sorted({o.max_repair_rounds for o in outcomes}):
        mine = [o for o in outcomes if o.max_repair_rounds == setting]
        rows.append(
            {
                "max_repair_rounds": setting,
                "goals": len(mine),
                "passed": sum(o.passed for o in mine),
                "pass_rate": round(sum(o.passed for o in mine) / len(mine), 3),
                "code_passed": f"{sum(o.passed for o in mine if o.kind == 'code')}"
                f"/{sum(o.kind == 'code' for o in mine)}",
                "questions_passed": f"{sum(o.passed for o in mine if o.kind == 'question')}"
                f"/{sum(o.kind == 'question' for o in mine)}",
                "completed": sum(o.status == "completed" for o in mine),
                "claimed": sum(o.claimed for o in mine),
                "tokens_mean": round(sum(o.tokens for o in mine) / len(mine)),
                "seconds_mean": round(sum(o.seconds for o in mine) / len(mine), 1),
                "seconds_total": round(sum(o.seconds for o in mine), 1),
            }
        )
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Model: **{report['label']}** ({report['llm']}) · plans: {report.get('plan', 'llm')} · "
        f"{'settings derived from one run per goal · ' if report.get('derived') else ''}"
        f"command: `{report['command']}`",
        f"Machine: {report['machine']}",
        "",
        "| max_repair_rounds | pass rate | code | questions | completed | claimed (completed "
        "but wrong) | mean tokens | mean wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["summary"]:
        lines.append(
            f"| {r['max_repair_rounds']} | {r['passed']}/{r['goals']} ({r['pass_rate']:.0%}) | "
            f"{r['code_passed']} | {r['questions_passed']} | {r['completed']} | {r['claimed']} | "
            f"{r['tokens_mean']} | {r['seconds_mean']} |"
        )
    settings = sorted({o["max_repair_rounds"] for o in report["outcomes"]})
    head = " | ".join(f"r={s}: pass · status · rounds · tokens · s" for s in settings)
    lines += ["", f"| goal | {head} |", "|---|" + "---|" * len(settings)]
    for gid in dict.fromkeys(o["goal"] for o in report["outcomes"]):
        cells = []
        for s in settings:
            o = next(
                (x for x in report["outcomes"] if x["goal"] == gid and x["max_repair_rounds"] == s),
                None,
            )
            cells.append(
                "—"
                if o is None
                else f"{'✅' if o['passed'] else '❌'} · {o['status']} · {o['rounds']} · "
                f"{o['tokens']} · {o['seconds']}"
            )
        lines.append(f"| {gid} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )  # fmt: skip
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()}"


# -- the command -----------------------------------------------------------------------------


def select(goals: Sequence[Goal], count: int | None, only: str | None) -> list[Goal]:
    """``only`` (ids) or the first ``count`` goals, alternating code and question goals."""
    if only:
        wanted = [g.strip() for g in only.split(",") if g.strip()]
        unknown = set(wanted) - {g.id for g in goals}
        if unknown:
            raise SystemExit(f"unknown goal ids: {', '.join(sorted(unknown))}")
        return [g for g in goals if g.id in wanted]
    code = [g for g in goals if g.kind == "code"]
    questions = [g for g in goals if g.kind == "question"]
    mixed: list[Goal] = []
    while code or questions:  # two code goals per question, the suite's own proportion
        mixed += code[:2] + questions[:1]
        code, questions = code[2:], questions[1:]
    return mixed[: count or len(mixed)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--goals", type=int, default=None, help="run only the first N goals")
    parser.add_argument("--only", help="comma-separated goal ids (see --list)")
    parser.add_argument("--list", action="store_true", help="list the goals and exit")
    parser.add_argument(
        "--rounds", default="0,1,2", help="max_repair_rounds settings, e.g. 0,1,2 (default)"
    )
    parser.add_argument(
        "--derive",
        action="store_true",
        help="run each goal once under the largest --rounds setting and read the smaller "
        "settings off the same run (cut after each verdict round): a third of the CPU",
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of embedded")
    parser.add_argument("--model", help="model name sent to --base-url")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"))
    parser.add_argument("--model-path", type=Path, help="embedded: another GGUF file")
    parser.add_argument("--label", help="name of the model in the report")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per task")
    parser.add_argument(
        "--plan",
        choices=("llm", "rules"),
        default="llm",
        help="llm: the planner arm plans each goal (default); rules: submit the planner's "
        "rule-based plan, one model call less per task (for a slow CPU)",
    )
    parser.add_argument(
        "--llm-timeout",
        type=float,
        default=600.0,
        help="seconds per model call (OCTOLLM_LLM__TIMEOUT_SECONDS); a small model on a "
        "shared CPU needs minutes for one completion",
    )
    parser.add_argument("--data-dir", type=Path, help="embedded services' data (default: temp)")
    parser.add_argument("--json", type=Path, dest="json_path", help="where to write the JSON")
    parser.add_argument("--markdown", type=Path, help="where to write the markdown table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from octollm.embedded import EmbeddedStack

    EmbeddedStack.install_signal_handlers()  # SIGTERM stops workers and services too
    if args.list:
        for g in select(GOALS, None, None):
            print(f"{g.id:24} {g.kind:9} {g.goal}")
        return 0
    goals = select(GOALS, args.goals, args.only)
    rounds = [int(r) for r in args.rounds.split(",") if r.strip()]
    label = args.label or args.model or (args.model_path.stem if args.model_path else "smollm2")
    with ExitStack() as stack:
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        rt, llm = _start(args, data_dir, stack)
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        docs = ingest(rt, tenant) if any(g.kind == "question" for g in goals) else {}
        print(f"documents: {docs}", file=sys.stderr)

        partial = (args.json_path or Path(f"agent_quality-{label}.json")).with_suffix(
            ".partial.jsonl"
        )

        def show(o: Outcome) -> None:
            with partial.open("a") as out:  # what ran so far survives an interrupted run
                out.write(json.dumps({**asdict(o), "claimed": o.claimed}, default=str) + "\n")
            mark = "PASS" if o.passed else "fail"
            print(
                f"r={o.max_repair_rounds} {o.goal:22} {mark} {o.status:9} rounds={o.rounds} "
                f"tokens={o.tokens} {o.seconds}s {o.why[:120]}",
                file=sys.stderr,
                flush=True,
            )

        outcomes = run_suite(
            rt,
            goals,
            rounds,
            tenant=tenant,
            timeout=args.timeout,
            plan_mode=args.plan,
            derive=args.derive,
            progress=show,
        )
        report = {
            "label": label,
            "llm": llm,
            "plan": args.plan,
            "derived": args.derive,
            "command": "python benchmarks/agent_quality.py " + " ".join(argv or sys.argv[1:]),
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "wall_seconds": round(time.monotonic() - started, 1),
            "documents": docs,
            "summary": summary(outcomes),
            "outcomes": [{**asdict(o), "claimed": o.claimed} for o in outcomes],
        }
    json_path = args.json_path or ROOT / "benchmarks" / "results" / f"agent_quality-{label}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    table = markdown(report)
    if args.markdown:
        args.markdown.write_text(table)
    print(table)
    return 0


def _start(args: argparse.Namespace, data_dir: Path, stack: ExitStack) -> tuple[Runtime, str]:
    """The embedded stack (what is not configured), one worker per pool, a runtime."""
    from pydantic import SecretStr

    from octollm.cli.run import _start_workers
    from octollm.config import get_settings
    from octollm.embedded import EmbeddedStack
    from octollm.store.migrate import upgrade

    settings = get_settings().model_copy(update={"data_dir": data_dir})
    llm = settings.llm.model_copy(update={"timeout_seconds": args.llm_timeout})
    if args.base_url:
        update: dict[str, Any] = {"base_url": args.base_url}
        if args.model:
            update["model"] = args.model
        if args.api_key:
            update["api_key"] = SecretStr(args.api_key)
        llm = llm.model_copy(update=update)
    embedded_settings = settings.embedded
    if args.model_path:
        embedded_settings = embedded_settings.model_copy(update={"llm_model_path": args.model_path})
    settings = settings.model_copy(update={"llm": llm, "embedded": embedded_settings})
    print("starting services and workers ...", file=sys.stderr)
    embedded = stack.enter_context(EmbeddedStack(settings))
    settings = embedded.settings
    env = {
        **os.environ,
        **embedded.env(),
        "OCTOLLM_LOG__JSON_OUTPUT": "true",
        "OCTOLLM_LLM__TIMEOUT_SECONDS": str(args.llm_timeout),
    }
    if args.api_key and args.base_url:
        env["OCTOLLM_LLM__API_KEY"] = args.api_key
    os.environ.update({k: v for k, v in env.items() if k.startswith("OCTOLLM_")})
    get_settings.cache_clear()
    upgrade(settings.require_database_url())
    _start_workers(settings, env, settings.data_dir / "logs", stack)
    from octollm.orchestrator.broker.app import app

    rt = Runtime.build(app, settings)
    stack.callback(rt.db.dispose)
    return rt, f"{settings.llm.model} at {settings.llm.base_url}"


if __name__ == "__main__":
    raise SystemExit(main())
