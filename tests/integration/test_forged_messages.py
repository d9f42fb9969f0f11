"""Forged broker messages on real workers: an event reaction (``octollm.event.react``) or an
arm-to-arm call (``octollm.arm.call``) sent without a token, with another tenant's token, or
tampered is refused, recorded in ``security_events``, and loads or publishes nothing.

The setting is issue 11's attack: tenant A's task has stored coder output; the attacker (tenant
B, holding B's own legitimate tokens, or none) publishes messages to the judge's queue naming
A's task. Only a judge pool runs (no dispatcher), so every message is the test's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from octollm.config.observability import SubscriptionSpec
from octollm.contracts import TaskContract
from octollm.contracts.event import Event
from octollm.memory.cache import Cache
from octollm.memory.handoff import Handoff
from octollm.orchestrator.broker import queues
from octollm.orchestrator.calls.caller import CALL_TASK, call_subject, reply_key
from octollm.orchestrator.capability import issuing, reactions
from octollm.orchestrator.engine import lifecycle
from octollm.security.capability import TOKEN_HEADER, CapabilityAuthority
from octollm.security.keyring import Keyring
from octollm.store import security_events
from octollm.worker.event_tasks import REACT_TASK
from tests.support.stack import LiveStack, make_runtime, wait_for_task, wait_until
from tests.support.streams import stream_entries

SPEC = SubscriptionSpec(event_type="code.generated", arm="judge", emits="validation.complete")
MARKER = "MARKER_tenant_a_secret_9f2c"


@pytest.fixture
def rt(stack: LiveStack) -> Iterator[Any]:
    runtime = make_runtime(stack)
    yield runtime
    runtime.db.dispose()


def finished_task(stack: LiveStack, rt: Any, tenant: str, code: str) -> str:
    """A completed task of ``tenant`` whose step ``gen`` stored ``code`` as its output."""
    plan = {"steps": [{"step_id": "gen", "arm": "echo", "action": "code", "input": {"code": code}}]}
    task = lifecycle.submit(
        rt, TaskContract(goal=f"{tenant} writes code", plan=plan), tenant=tenant
    )
    assert wait_for_task(rt, task.id).status == "completed"
    return task.id


@pytest.fixture
def tasks(stack: LiveStack, rt: Any) -> dict[str, str]:
    stack.start_fleet(["orchestrator", "echo"])
    a = finished_task(stack, rt, "tenant-a", f"SECRET = '{MARKER}'\n")
    b = finished_task(stack, rt, "tenant-b", "x = 1\n")
    stack.start_worker(["judge"])
    return {"a": a, "b": b}


def code_generated(task_id: str, tenant: str) -> dict[str, Any]:
    event = Event(
        event_type="code.generated",
        source="coder",
        task_id=task_id,
        tenant=tenant,
        data={"step_id": "gen", "language": "python"},
    )
    return event.model_dump(mode="json")


def react(stack: LiveStack, rt: Any, event: dict[str, Any], token: str | None) -> None:
    rt.app.send_task(
        REACT_TASK,
        args=[SPEC.name, event],
        headers={TOKEN_HEADER: token} if token else None,
        queue=queues.queue_name(stack.prefix, "judge", "high", broker_url=stack.redis_url),
        ignore_result=True,
    )


def refusal(rt: Any, task_id: str, kind: str) -> Any:
    def found() -> Any:
        with rt.db.session() as session:
            rows = security_events.for_task(session, task_id)
        return next((r for r in rows if r.kind == kind), None)

    return wait_until(found, 30, f"a {kind} security event for {task_id}")


def _kinds(rt: Any, task_id: str) -> list[str]:
    with rt.db.session() as session:
        return [r.kind for r in security_events.for_task(session, task_id)]


def published(stack: LiveStack, task_id: str) -> list[str]:
    rows = stream_entries(stack.redis(), task_id)
    return [Event.model_validate_json(f[b"event"]).event_type for _, f in rows]


def everything_in_redis(stack: LiveStack) -> str:
    client = stack.redis()
    out = []
    for key in client.scan_iter(match="octollm:events:*"):
        if client.type(key) == b"stream":
            out.extend(repr(f) for _, f in client.xrange(key))
    return "\n".join(out)


def test_a_reaction_message_without_a_token_naming_another_tenants_task_is_refused(
    stack: LiveStack, rt: Any, tasks: dict[str, str]
) -> None:
    react(stack, rt, code_generated(tasks["a"], "tenant-b"), None)
    row = refusal(rt, tasks["a"], "missing")
    assert row.arm == "judge"
    assert "validation.complete" not in published(stack, tasks["a"])
    assert MARKER not in everything_in_redis(stack)


def test_a_reaction_with_tenant_bs_own_token_cannot_be_pointed_at_tenant_as_task(
    stack: LiveStack, rt: Any, tasks: dict[str, str]
) -> None:
    settings = stack.settings()
    legit = code_generated(tasks["b"], "tenant-b")
    token = reactions.issue(
        settings, arm="judge", subscription=SPEC.name, event_body=legit, tenant="tenant-b"
    )
    forged = {**legit, "task_id": tasks["a"]}  # B's token, A's task
    react(stack, rt, forged, token)
    refusal(rt, tasks["a"], "wrong_subject")
    assert "validation.complete" not in published(stack, tasks["a"])
    assert MARKER not in everything_in_redis(stack)


def test_a_tampered_reaction_is_refused_whatever_was_changed(
    stack: LiveStack, rt: Any, tasks: dict[str, str]
) -> None:
    settings = stack.settings()
    legit = code_generated(tasks["a"], "tenant-a")
    token = reactions.issue(
        settings, arm="judge", subscription=SPEC.name, event_body=legit, tenant="tenant-a"
    )
    # The tenant swapped to B's, so the verdict would go to B's webhooks.
    react(stack, rt, {**legit, "tenant": "tenant-b"}, token)
    refusal(rt, tasks["a"], "tampered")
    # The token's signature broken.
    react(stack, rt, legit, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    refusal(rt, tasks["a"], "bad_signature")
    # A token minted with some other key entirely.
    # A token minted with a key of the attacker's own, claiming everything right.
    forged = CapabilityAuthority(Keyring.generate()).issue(
        arm="judge",
        task_id=tasks["a"],
        step_id=reactions.reaction_step(SPEC.name, legit["event_id"]),
        generation=0,
        expires_at=time.time() + 300,
        scopes=(reactions.SCOPE,),
        constraints={
            "tenant": "tenant-a",
            "subscription": SPEC.name,
            "event_sha256": reactions.event_digest(legit),
        },
    )
    react(stack, rt, legit, forged)
    wait_until(lambda: len(_kinds(rt, tasks["a"])) >= 3, 30, "three refusals recorded")
    assert "validation.complete" not in published(stack, tasks["a"])
    assert MARKER not in everything_in_redis(stack)


def test_the_genuine_reaction_runs_for_the_task_rows_tenant(
    stack: LiveStack, rt: Any, tasks: dict[str, str]
) -> None:
    legit = code_generated(tasks["a"], "tenant-a")
    token = reactions.issue(
        stack.settings(), arm="judge", subscription=SPEC.name, event_body=legit, tenant="tenant-a"
    )
    react(stack, rt, legit, token)
    wait_until(lambda: "validation.complete" in published(stack, tasks["a"]), 40, "the verdict")
    rows = stream_entries(stack.redis(), tasks["a"])
    verdict = next(
        e
        for e in (Event.model_validate_json(f[b"event"]) for _, f in rows)
        if e.event_type == "validation.complete"
    )
    assert verdict.tenant == "tenant-a"
    assert verdict.data["step_id"] == "gen"
    with rt.db.session() as session:
        assert security_events.for_task(session, tasks["a"]) == []


# -- arm-to-arm calls ----------------------------------------------------------------------


def call(
    stack: LiveStack, rt: Any, call_id: str, key: str, task_id: str, token: str | None
) -> None:
    rt.app.send_task(
        CALL_TASK,
        args=(call_id, "judge", key, task_id, "gen", 1),
        headers={TOKEN_HEADER: token} if token else None,
        queue=queues.queue_name(stack.prefix, "judge", "high", broker_url=stack.redis_url),
        ignore_result=True,
    )


def call_token(stack: LiveStack, task_id: str, call_id: str, tenant: str, key: str) -> str:
    return issuing.authority(stack.settings()).issue(
        arm="judge",
        task_id=task_id,
        step_id=call_subject("gen", call_id),
        generation=1,
        expires_at=time.time() + 120,
        scopes=("arm:call", "arm:judge"),
        constraints={"caller": "coder", "tenant": tenant, "handoff": key},
    )


def test_forged_arm_calls_are_refused_recorded_and_read_no_hand_off(
    stack: LiveStack, rt: Any, tasks: dict[str, str]
) -> None:
    cache = Cache(stack.redis())
    a_key = Handoff(cache, tenant="tenant-a").put("coder", "call", {"code": f"# {MARKER}\n"})
    b_key = Handoff(cache, tenant="tenant-b").put("coder", "call", {"code": "x = 1\n"})

    # No token at all, naming A's task and A's hand-off.
    call(stack, rt, "c-missing", a_key, tasks["a"], None)
    refusal(rt, tasks["a"], "missing")
    # B's own valid token (B's task, B's hand-off) with A's task and hand-off in the message.
    b_token = call_token(stack, tasks["b"], "c-other", "tenant-b", b_key)
    call(stack, rt, "c-other", a_key, tasks["a"], b_token)
    refusal(rt, tasks["a"], "wrong_subject")
    # B's token for B's task, but the message points at A's hand-off key.
    call(stack, rt, "c-other", a_key, tasks["b"], b_token)
    refusal(rt, tasks["b"], "tampered")
    # A token for A's task whose signature was tampered with.
    a_token = call_token(stack, tasks["a"], "c-sig", "tenant-a", a_key)
    call(stack, rt, "c-sig", a_key, tasks["a"], a_token[:-4] + "AAAA")
    refusal(rt, tasks["a"], "bad_signature")

    judge = next(w for w in stack.workers if w.name.startswith("judge"))
    assert '"arm_call_served"' not in judge.log()
    client = stack.redis()
    for tenant in ("tenant-a", "tenant-b"):
        for call_id in ("c-missing", "c-other", "c-sig"):
            for raw in client.lrange(reply_key(tenant, call_id), 0, -1):
                assert b'"ok": false' in raw
                assert MARKER.encode() not in raw


def test_a_genuine_arm_call_is_answered_in_its_tenants_namespace(
    stack: LiveStack, rt: Any, tasks: dict[str, str]
) -> None:
    key = Handoff(Cache(stack.redis()), tenant="tenant-a").put(
        "coder", "call", {"code": "def f():\n    return 1\n", "language": "python"}
    )
    token = call_token(stack, tasks["a"], "c-good", "tenant-a", key)
    call(stack, rt, "c-good", key, tasks["a"], token)
    got = stack.redis().blpop([reply_key("tenant-a", "c-good")], 40)
    assert got is not None
    assert b'"ok": true' in got[1]


# -- control messages without tokens ---------------------------------------------------------


def test_a_forged_finalize_message_cannot_close_another_tenants_live_task(
    stack: LiveStack, rt: Any
) -> None:
    """``octollm.task.finalize`` carries no token: it acts on Postgres state only (every step
    finished, this generation), takes the tenant from the task row and reads nothing from the
    message but ids, so a forged one can only do what the genuine one would."""
    plan = {"steps": [{"step_id": "gen", "arm": "echo", "action": "code", "input": {}}]}
    task = lifecycle.submit(
        rt, TaskContract(goal="tenant a's task in flight", plan=plan), tenant="tenant-a"
    )
    stack.start_worker(["orchestrator"])
    rt.app.send_task(
        "octollm.task.finalize",
        args=(task.id, 1),
        queue=queues.queue_name(stack.prefix, "orchestrator", "high", broker_url=stack.redis_url),
        ignore_result=True,
    )
    worker = stack.workers[-1]
    wait_until(lambda: "'not-ready'" in worker.log(), 30, "the forged finalize's answer")
    with rt.db.session() as session:
        from octollm.store import tasks as task_repo

        row = task_repo.get(session, task.id)
        assert row is not None
        assert row.status == "processing"
        assert row.tenant == "tenant-a"
    assert "task.completed" not in published(stack, task.id)
