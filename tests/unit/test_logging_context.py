"""Log context: cleared and re-bound per unit of work; trace ids added by a processor; the
metrics observer counts steps from events without failing on partial data."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from octollm.contracts.event import Event
from octollm.logging import bind_unit_of_work
from octollm.observability import metrics, tracing


def test_each_unit_of_work_starts_from_a_clean_context() -> None:
    log = structlog.get_logger("test")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        bind_unit_of_work(task_id="t-1", step_id="a", arm="echo", tenant="acme")
        log.info("first")
        bind_unit_of_work(task_id="t-2", step_id="b")
        log.info("second")
    first, second = logs
    assert (first["task_id"], first["step_id"], first["arm"], first["tenant"]) == (
        "t-1",
        "a",
        "echo",
        "acme",
    )
    assert second["task_id"] == "t-2"
    assert "arm" not in second
    assert "tenant" not in second
    structlog.contextvars.clear_contextvars()


def test_trace_ids_follow_the_current_span_and_children_keep_the_trace() -> None:
    token = tracing.continue_trace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    try:
        event = tracing.add_trace_context(None, "info", {"event": "x"})
        assert event["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert event["span_id"] != "b7ad6b7169203331", "a new span under the caller's"
        child = tracing.parse(tracing.child_of(tracing.current()))
        assert child is not None
        assert child[0] == "0af7651916cd43dd8448eb211c80319c"
    finally:
        tracing.reset(token)
    assert "trace_id" not in tracing.add_trace_context(None, "info", {"event": "y"})


def test_invalid_traceparents_start_a_new_trace() -> None:
    for bad in (None, "", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01"):
        assert tracing.parse(bad) is None
        assert tracing.parse(tracing.child_of(bad)) is not None


def test_step_events_update_counters_and_latency_even_without_an_arm_label() -> None:
    before = metrics.STEPS.labels(arm="unit-arm", status="succeeded")._value.get()
    metrics.observe_event(
        Event(event_type="step.started", task_id="t", data={"step_id": "s", "arm": "unit-arm"})
    )
    metrics.observe_event(
        Event(event_type="step.retrying", task_id="t", data={"step_id": "s", "attempt": 1})
    )
    metrics.observe_event(
        Event(event_type="step.started", task_id="t", data={"step_id": "s", "arm": "unit-arm"})
    )
    metrics.observe_event(
        Event(
            event_type="step.succeeded",
            task_id="t",
            data={
                "step_id": "s",
                "arm": "unit-arm",
                "duration_ms": 12.5,
                "tokens": 7,
                "model": "unit-model",
                "cost_usd": 0.01,
            },
        )
    )
    assert metrics.STEPS.labels(arm="unit-arm", status="succeeded")._value.get() == before + 1
    assert metrics.RETRIES.labels(arm="unit-arm")._value.get() >= 1
    assert metrics.TOKENS.labels(model="unit-model")._value.get() >= 7
    metrics.observe_event(
        Event(event_type="step.dead_lettered", task_id="t", data={"step_id": "zz"})
    )
    assert metrics.STEPS.labels(arm="unknown", status="dead_lettered")._value.get() >= 1
