"""Celery settings for octollm, derived from the typed settings (``OCTOLLM_*``).

Deployment-editable: change a value here, not in the code. JSON is the only serializer.
"""

from octollm.arms.registry import BUILTIN_ARMS
from octollm.config import get_settings
from octollm.orchestrator import routing

_settings = get_settings()
_broker = _settings.require_broker_url()
_prefix = _settings.queue_prefix

broker_url = _broker
result_backend = _settings.result_backend_url()

# Security: JSON only, never pickle.
task_serializer = "json"
result_serializer = "json"
event_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# Delivery: acknowledge after the step ran; requeue when the worker process dies.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# Redis only: fetch a new message only when a slot is free (so urgency order holds).
worker_disable_prefetch = not routing.is_amqp(_broker)
worker_soft_shutdown_timeout = 10.0
worker_cancel_long_running_tasks_on_connection_loss = True
broker_connection_retry_on_startup = True
broker_transport_options = routing.transport_options(
    _broker, _settings.broker.visibility_timeout_seconds
)
result_backend_transport_options = {"visibility_timeout": _settings.broker.visibility_timeout_seconds}
redis_socket_timeout = 30
redis_socket_connect_timeout = 5
redis_backend_health_check_interval = 25

# Results: only chord counting uses them; outputs live in Postgres.
result_expires = 3600
task_ignore_result = False
result_extended = False

# Queues: one per arm and urgency; control tasks on the orchestrator queues.
task_queues = routing.queues_for(_prefix, [*BUILTIN_ARMS, routing.CONTROL_ARM], _broker)
task_default_queue = routing.queue_name(_prefix, routing.CONTROL_ARM, "medium", broker_url=_broker)
task_create_missing_queues = True

# Monitoring: Flower needs task events.
worker_send_task_events = True
task_send_sent_event = True

worker_hijack_root_logger = False
worker_max_tasks_per_child = 1000
enable_utc = True
timezone = "UTC"

beat_schedule = {
    "octollm-reconcile": {
        "task": "octollm.reconcile",
        "schedule": _settings.orchestrator.reconcile_interval_seconds,
        "options": {"queue": task_default_queue, "expires": _settings.orchestrator.reconcile_interval_seconds},
    },
}
