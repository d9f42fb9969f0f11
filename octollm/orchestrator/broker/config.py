"""Celery settings derived from octollm's typed settings (used by ``celeryconfig.py``)."""

from __future__ import annotations

from typing import Any

from octollm.arms.registry import BUILTIN_ARMS
from octollm.config import Settings
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.broker import result_backend as resultbackend

#: The longest countdown of a re-published step message while Postgres is away (worker/tasks.py).
STORAGE_RETRY_CAP_SECONDS = 30.0


def visibility_timeout(settings: Settings) -> int:
    """How long Redis waits before it redelivers an unacknowledged message.

    A message stays unacknowledged (``acks_late``) for as long as its delivery may
    legitimately take: the step's time limit, then the recording window while Postgres is
    away, and, before it runs, the longest countdown a worker holds it for (a retry's backoff,
    the storage retry, or the wait for a live lease, each at most ``lease_seconds`` beyond its
    cap). Anything longer means the worker that holds it died: redeliver then, not hours later.
    ``broker.visibility_timeout_seconds`` overrides the derived value."""
    if settings.broker.visibility_timeout_seconds is not None:
        return settings.broker.visibility_timeout_seconds
    cfg = settings.orchestrator
    # backoff() jitters up to 1.5x its cap
    countdown = 1.5 * max(
        cfg.retry_backoff_max_seconds, STORAGE_RETRY_CAP_SECONDS, cfg.lease_seconds
    )
    held = cfg.step_time_limit_seconds + cfg.outcome_record_seconds + countdown
    return max(300, int(held + 2 * cfg.lease_seconds))


def build(settings: Settings) -> dict[str, Any]:
    broker = settings.require_broker_url()
    prefix = settings.queue_prefix
    default_queue = routing.queue_name(prefix, routing.CONTROL_ARM, "medium", broker_url=broker)
    visibility = visibility_timeout(settings)
    return {
        "broker_url": broker,
        # Redis backend without client-side pending-result tracking (octollm never waits on
        # Celery results; chords only need the counters): see orchestrator/resultbackend.py.
        "result_backend": resultbackend.backend_url(settings.result_backend_url()),
        # Security: JSON only, never pickle.
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        # Delivery: acknowledge after the step ran; requeue when the worker process dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A step whose failure is recorded ends in FAILURE (Flower counts it); its message is
        # acknowledged like a success, never redelivered (orchestrator/broker/step_failure.py).
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        # Redis only: fetch a new message only when a slot is free (so urgency order holds).
        "worker_disable_prefetch": not routing.is_amqp(broker),
        "worker_soft_shutdown_timeout": 10.0,
        # Off by default: Postgres, not the ack, records that a step finished, so a step that
        # outlives a lost broker connection records its outcome and its redelivery is a no-op;
        # cancelling it would run it (and its side effects) again. docs/architecture.md.
        "worker_cancel_long_running_tasks_on_connection_loss": (
            settings.orchestrator.cancel_steps_on_connection_loss
        ),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": routing.transport_options(broker, visibility),
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "redis_socket_timeout": 30,
        "redis_socket_connect_timeout": 5,
        "redis_backend_health_check_interval": 25,
        # Results: only chord counting uses them; outputs live in Postgres.
        "result_expires": 3600,
        # Queues: one per arm and urgency; control tasks on the orchestrator queues.
        "task_queues": routing.queues_for(prefix, [*BUILTIN_ARMS, routing.CONTROL_ARM], broker),
        "task_default_queue": default_queue,
        "task_create_missing_queues": True,
        # Webhook deliveries have their own queues and pool (fleet.toml: webhooks).
        "task_routes": {
            "octollm.webhook.deliver": routing.route(prefix, "webhooks", "high", broker),
        },
        # Event, webhook and monitoring tasks and worker hooks (dispatcher, /metrics, traces).
        "imports": ["octollm.worker.event_tasks"],
        # Monitoring: Flower's task views need task events; opt-in (flower.task_events), since
        # they cost broker publishes on every step (docs/benchmarks.md).
        "worker_send_task_events": settings.flower.task_events,
        "task_send_sent_event": settings.flower.task_events,
        "worker_hijack_root_logger": False,
        "worker_max_tasks_per_child": 1000,
        "enable_utc": True,
        "timezone": "UTC",
        # Capability tokens: publishers mint them from these (orchestrator/issuing.py).
        **capability_entries(settings),
        "beat_schedule": {
            "octollm-reconcile": {
                "task": "octollm.reconcile",
                "schedule": settings.orchestrator.reconcile_interval_seconds,
                "options": {
                    "queue": default_queue,
                    "expires": settings.orchestrator.reconcile_interval_seconds,
                },
            },
            **(
                {
                    "octollm-dispatch": {
                        "task": "octollm.dispatch",
                        "schedule": settings.orchestrator.fair_tick_seconds,
                        "options": {
                            "queue": default_queue,
                            "expires": settings.orchestrator.fair_tick_seconds,
                        },
                    }
                }
                if settings.orchestrator.fair_dispatch
                else {}
            ),
        },
    }


def capability_entries(settings: Settings) -> dict[str, Any]:
    """The capability settings as Celery configuration keys (plain values only)."""
    cfg = settings.capability
    return {
        # Key file paths, never keys.
        "octollm_capability_keys_file": str(cfg.keys_file) if cfg.keys_file else None,
        "octollm_capability_public_keys_file": (
            str(cfg.public_keys_file) if cfg.public_keys_file else None
        ),
        "octollm_capability_dir": str(settings.data_dir),
        "octollm_capability_leeway": cfg.leeway_seconds,
        "octollm_capability_max_ttl": cfg.max_ttl_seconds,
        "octollm_capability_min_ttl": cfg.min_ttl_seconds,
        "octollm_step_time_limit": settings.orchestrator.step_time_limit_seconds,
    }
