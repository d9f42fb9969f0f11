"""Prometheus metrics of the API edge, on the default registry (``GET /metrics`` serves it).

Labels use the route template (``/api/v1/tasks/{task_id}``), never the raw path, so the
series stay bounded.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "octollm_http_requests_total",
    "HTTP requests answered by the API.",
    ("method", "route", "status"),
)
HTTP_LATENCY = Histogram(
    "octollm_http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte for streams).",
    ("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS_SUBMITTED = Counter(
    "octollm_api_tasks_submitted_total", "Tasks accepted by the API.", ("priority",)
)
RATE_LIMITED = Counter(
    "octollm_api_rate_limited_total", "Requests refused by a rate limit.", ("kind",)
)
CACHE_LOOKUPS = Counter(
    "octollm_cache_hits_total", "Result-cache lookups at the reflex edge.", ("layer", "result")
)
SCREENING = Counter("octollm_api_screening_total", "Reflex screening outcomes.", ("action",))
STREAMS_OPEN = Counter(
    "octollm_api_streams_opened_total", "SSE and WebSocket streams opened.", ("kind",)
)
SLOW_CONSUMERS = Counter(
    "octollm_api_slow_consumers_total", "WebSocket clients dropped for falling behind."
)
SHED = Counter(
    "octollm_api_shed_total", "Requests answered 503 because the process was at max_in_flight."
)
