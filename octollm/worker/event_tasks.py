"""Celery tasks and worker hooks for events, webhooks and monitoring.

* ``octollm.webhook.deliver`` (queue ``<prefix>.webhooks.high``): one attempt at one delivery,
  admitted by its capability token first (``orchestrator.webhook_messages``); retries itself
  with the countdown the attempt computed and a fresh token.
* ``octollm.event.react`` (queue of the subscribed arm): runs an arm capability for an event
  (``code.generated`` -> judge) and publishes its result (``validation.complete``). The message
  carries a capability token the dispatcher issued; it is verified against the task row before
  anything is loaded, and the task row's tenant is the only one used (``orchestrator.reactions``).
* The event dispatcher: a thread in each worker that consumes a webhooks queue, reading the
  durable event stream in the consumer group ``octollm-dispatch`` and turning each event into
  deliveries and reactions. Several workers share the group; a dead one's events are reclaimed.
* Metrics: the event observer, ``/metrics`` on ``metrics.worker_port``; trace context signals.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import Any

import redis
import structlog
from celery import Task
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown

from octollm.arms import boundary
from octollm.arms.base import ArmContext
from octollm.arms.registry import get_arm
from octollm.config import Settings, get_settings
from octollm.config.observability import SubscriptionSpec
from octollm.contracts.event import Event, EventType
from octollm.errors import OctoError, TransientError
from octollm.events import StreamConsumer, add_observer
from octollm.logging import bind_unit_of_work
from octollm.observability import exposition, metrics, tracing
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.broker.app import app
from octollm.orchestrator.calls import tenancy
from octollm.orchestrator.calls.collaborators import services_for
from octollm.orchestrator.calls.metering import llm_for
from octollm.orchestrator.capability import reactions, webhook_messages
from octollm.orchestrator.engine.runner import backoff
from octollm.orchestrator.runtime import Runtime, get_runtime
from octollm.resilience import on_state_change
from octollm.security.capability import TOKEN_HEADER, TokenRefused
from octollm.store import steps as step_repo
from octollm.webhooks import DELIVER_TASK, WEBHOOKS_QUEUE_ARM, fan_out
from octollm.webhooks.delivery import deliver
from octollm.webhooks.secretbox import box

log = structlog.get_logger(__name__)

DISPATCH_GROUP = "octollm-dispatch"
REACT_TASK = "octollm.event.react"
_REACTED_TTL = 7 * 86_400

add_observer(metrics.observe_event)
on_state_change(metrics.breaker_transition)
tracing.install()


_DURABLE: dict[str, Any] = {
    "bind": True,
    "max_retries": None,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@app.task(name=DELIVER_TASK, **_DURABLE)
def deliver_webhook(self: Task, delivery_id: int) -> dict[str, Any]:
    rt = get_runtime(app)
    bind_unit_of_work(delivery_id=delivery_id)
    headers: dict[str, Any] = dict(self.request.headers or {})
    refused = webhook_messages.admit(
        rt, headers.get(TOKEN_HEADER), int(delivery_id), message_id=self.request.id
    )
    if refused is not None:
        return {"delivery_id": delivery_id, "outcome": "refused", "kind": refused}
    outcome = deliver(rt.db, int(delivery_id), rt.settings.webhooks, sealer=box(rt.settings))
    if outcome.kind != "noop":
        metrics.record_webhook(outcome.kind)
    if outcome.kind == "retry":
        fresh = webhook_messages.reissue(rt, int(delivery_id), delay=outcome.countdown)
        if fresh is not None:
            headers[TOKEN_HEADER] = fresh
        raise self.retry(countdown=outcome.countdown, max_retries=None, headers=headers)
    return {"delivery_id": delivery_id, "outcome": outcome.kind, "attempt": outcome.attempt}


def subscription(settings: Settings, name: str) -> SubscriptionSpec | None:
    specs = settings.events.subscriptions
    return next((s for s in specs if s.name == name), None)


def reaction_event_id(spec: SubscriptionSpec, source_event_id: str) -> str:
    return f"evt-{uuid.uuid5(uuid.NAMESPACE_URL, f'{spec.name}/{source_event_id}')}"


def _reaction_input(
    rt: Runtime, spec: SubscriptionSpec, event: Event
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arm's input (the event's data) and dependencies (the referenced step's stored output).
    Called only after ``reactions.admit``: the event's task is the token's, of the row's tenant."""
    data = dict(event.data)
    data.setdefault("action", spec.action)
    dependencies: dict[str, Any] = {}
    step_id = data.get("step_id")
    if event.task_id and isinstance(step_id, str) and "code" not in data:
        with rt.db.session() as session:
            dependencies = step_repo.outputs(session, event.task_id, [step_id])
    return data, dependencies


@app.task(name=REACT_TASK, **_DURABLE)
def react(self: Task, subscription_name: str, event: dict[str, Any]) -> dict[str, Any]:
    rt = get_runtime(app)
    spec = subscription(rt.settings, subscription_name)
    bind_unit_of_work(
        task_id=str(event.get("task_id") or "")[:64] or None,
        arm=spec.arm if spec else None,
        event_id=str(event.get("event_id") or "")[:64] or None,
        subscription=subscription_name,
    )
    if spec is None:
        log.warning("subscription_unknown")
        return {"outcome": "unknown-subscription"}
    headers: dict[str, Any] = dict(self.request.headers or {})
    token = headers.get(TOKEN_HEADER)
    admitted = reactions.admit(
        rt,
        token,
        arm=spec.arm,
        subscription=spec.name,
        event_body=event,
        message_id=self.request.id,
    )
    if isinstance(admitted, TokenRefused):
        return {"outcome": f"refused:{admitted.kind}"}
    source = Event.model_validate(event)
    tenant = admitted.tenant  # the task row's, never the event's
    bind_unit_of_work(
        task_id=source.task_id,
        tenant=tenant,
        request_id=source.request_id,
        arm=spec.arm,
        event_id=source.event_id,
        subscription=subscription_name,
    )
    client = redis.Redis.from_url(rt.settings.redis_url())
    done_key = f"octollm:events:reacted:{spec.name}:{source.event_id}"
    if client.exists(done_key):
        return {"outcome": "duplicate"}
    attempt = int(self.request.retries) + 1
    data, dependencies = _reaction_input(rt, spec, source)
    ctx = ArmContext(
        task_id=source.task_id or source.event_id,
        step_id=f"on:{source.event_type}",
        attempt=attempt,
        goal=str(data.get("goal") or f"react to {source.event_type}"),
        llm=llm_for(rt.settings),
        acceptance_criteria=list(data.get("acceptance_criteria") or []),
        dependencies=dependencies,
        deadline=time.monotonic() + rt.settings.orchestrator.step_time_limit_seconds,
        services=tenancy.bind(services_for(spec.arm, rt), tenant, admitted.capability),
    )
    started = time.monotonic()
    try:
        result = boundary.call(get_arm(spec.arm), data, ctx)
    except TransientError as exc:
        if attempt < spec.max_attempts:
            cfg = rt.settings.orchestrator
            raise self.retry(
                countdown=backoff(
                    attempt,
                    cfg.retry_backoff_base_seconds,
                    cfg.retry_backoff_max_seconds,
                    exc.retry_after,
                ),
                max_retries=None,
                headers=headers,
            ) from None
        return _reaction_failed(rt, spec, source, tenant, exc, attempt)
    except Exception as exc:  # noqa: BLE001 - a failing arm is reported as an event, not lost
        return _reaction_failed(rt, spec, source, tenant, exc, attempt)
    rt.events.publish(
        Event(
            event_id=reaction_event_id(spec, source.event_id),
            event_type=spec.emits,
            source=spec.arm,
            task_id=source.task_id,
            tenant=tenant,
            request_id=source.request_id,
            data={
                "source_event_id": source.event_id,
                "source_event_type": source.event_type,
                "subscription": spec.name,
                "step_id": data.get("step_id"),
                "result": result.output,
            },
        )
    )
    client.set(done_key, b"1", ex=_REACTED_TTL)
    log.info(
        "reaction_succeeded",
        attempt=attempt,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        output_sha256=hashlib.sha256(repr(sorted(result.output)).encode()).hexdigest()[:16],
    )
    return {"outcome": "done", "emitted": spec.emits}


def _reaction_failed(
    rt: Runtime,
    spec: SubscriptionSpec,
    source: Event,
    tenant: str,
    exc: BaseException,
    attempt: int,
) -> dict[str, Any]:
    code = exc.code if isinstance(exc, OctoError) else "ARM_CRASHED"
    log.warning("reaction_failed", attempt=attempt, error_code=code)
    rt.events.publish(
        Event(
            event_type=EventType.SUBSCRIPTION_FAILED.value,
            source=spec.arm,
            task_id=source.task_id,
            tenant=tenant,
            request_id=source.request_id,
            data={
                "source_event_id": source.event_id,
                "subscription": spec.name,
                "attempts": attempt,
                "error": {"code": code, "message": str(exc)[:500]},
            },
        )
    )
    return {"outcome": "failed", "error_code": code}


def dispatch(settings: Settings, event: Event) -> None:
    """Turn one event into webhook deliveries and subscription reactions (idempotent).

    An event naming a task must carry that task row's tenant, else nothing is delivered or
    enqueued (recorded as ``tenant_mismatch``); a reaction is enqueued only for an event of a
    task, with a capability token bound to that task, its tenant and the event body."""
    rt = get_runtime(app)
    broker = settings.require_broker_url()
    try:
        tenant = reactions.check_event_tenant(rt, event)
    except TokenRefused:
        return
    for delivery_id in fan_out(rt.db, event, max_attempts=settings.webhooks.max_attempts):
        webhook_messages.enqueue(
            settings, app, tenant if tenant is not None else event.tenant, delivery_id
        )
    body = event.model_dump(mode="json")
    for spec in settings.events.subscriptions:
        if spec.event_type != event.event_type:
            continue
        if tenant is None:
            log.info("reaction_skipped_without_task", event_id=event.event_id, spec=spec.name)
            continue
        token = reactions.issue(
            settings, arm=spec.arm, subscription=spec.name, event_body=body, tenant=tenant
        )
        react.apply_async(
            args=[spec.name, body],
            headers={TOKEN_HEADER: token},
            **routing.route(settings.queue_prefix, spec.arm, spec.urgency, broker),
        )


class Dispatcher:
    """The dispatcher thread of one worker."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.events
        client = redis.Redis.from_url(
            settings.redis_url(), socket_timeout=30, socket_connect_timeout=5
        )
        self.stop = threading.Event()
        self.consumer = StreamConsumer(
            client,
            DISPATCH_GROUP,
            lambda event: dispatch(settings, event),
            reclaim_idle_seconds=cfg.reclaim_idle_seconds,
            max_deliveries=cfg.max_deliveries,
            dead_maxlen=cfg.dead_letter_maxlen,
        )
        self.thread = threading.Thread(
            target=self.consumer.run,
            args=(self.stop,),
            name="octollm-event-dispatcher",
            daemon=True,
        )

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.consumer.retire()


_dispatcher: Dispatcher | None = None


def consumes_webhooks(queue_names: list[str], prefix: str) -> bool:
    return any(q.startswith(f"{prefix}.{WEBHOOKS_QUEUE_ARM}") for q in queue_names)


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    global _dispatcher
    settings = get_settings()
    tracing.install(otel=settings.tracing.otel)
    port = settings.metrics.worker_port
    if port:
        try:
            exposition.start_exporter(settings, port=port, include_queues=False)
            log.info("metrics_exporter_started", port=port)
        except OSError as exc:  # several workers on one host: the first one serves the directory
            log.warning("metrics_exporter_not_started", port=port, error=str(exc))
    queues = list(getattr(getattr(sender, "app", app).amqp.queues, "consume_from", None) or {})
    if (
        settings.events.dispatch_in_worker
        and consumes_webhooks(queues, settings.queue_prefix)
        and _dispatcher is None
    ):
        _dispatcher = Dispatcher(settings)
        _dispatcher.start()


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    global _dispatcher
    if _dispatcher is not None:
        _dispatcher.close()
        _dispatcher = None


@worker_process_shutdown.connect
def _on_child_exit(pid: int | None = None, **_: Any) -> None:
    if pid is not None:
        exposition.mark_process_dead(pid)
