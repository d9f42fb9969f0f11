"""Monitoring: Prometheus metrics (queue depths, steps, webhooks), trace context, Flower."""

from octollm.observability.exposition import metrics_registry, register_collectors, start_exporter
from octollm.observability.metrics import observe_event, record_llm_usage, set_breaker_state

__all__ = [
    "metrics_registry",
    "observe_event",
    "record_llm_usage",
    "register_collectors",
    "set_breaker_state",
    "start_exporter",
]
