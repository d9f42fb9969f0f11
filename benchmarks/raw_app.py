"""The raw-Celery side of the benchmark: one no-op task on its own queue, configured with the
same transport settings as octollm (JSON, late acks, prefetch 1, Redis results), so the
comparison measures what octollm adds on top of Celery and nothing else.

Configured from ``BENCH_BROKER_URL`` and ``BENCH_QUEUE`` (the benchmark sets both for its
workers); nothing connects at import.
"""

from __future__ import annotations

import os

from celery import Celery

from octollm.orchestrator.broker import queues

BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
QUEUE = os.environ.get("BENCH_QUEUE", "bench-raw")

app = Celery("bench-raw", broker=BROKER, backend=BROKER, set_as_current=False)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_disable_prefetch=True,
    broker_transport_options=queues.transport_options(BROKER, 7200),
    result_backend_transport_options={"visibility_timeout": 7200},
    redis_socket_timeout=30,
    task_default_queue=QUEUE,
    task_create_missing_queues=True,
    worker_hijack_root_logger=False,
    result_expires=3600,
)


@app.task(name="bench.noop")
def noop() -> bool:
    return True
