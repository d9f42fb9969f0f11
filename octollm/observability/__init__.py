"""Monitoring: Prometheus metrics (queue depths, steps, webhooks), trace context, Flower."""

from octollm.observability.exposition import metrics_registry, start_exporter
from octollm.observability.metrics import observe_event, record_llm_usage, set_breaker_state

__all__ = [
    "metrics_registry",
    "observe_event",
    "record_llm_usage",
    "set_breaker_state",
    "start_exporter",
]
