"""Serving metrics: which registry, which collectors, which port.

Choice for workers: ``prometheus_client`` **multiprocess mode** (``PROMETHEUS_MULTIPROC_DIR``).
The executor pool is prefork and recycles children (``max_tasks_per_child``); a per-process
HTTP port would need one port per child and lose a child's counts when it is recycled, while
multiprocess files survive the child and one exporter per host serves the sum. Thread pools
run in one process, so without the directory a worker simply serves its default registry on
``metrics.worker_port``.

* API: ``generate_latest(metrics_registry(settings))`` (queue depths + this process's metrics,
  or every process's metrics in multiprocess mode).
* Fleet exporter (``octollm metrics``): :func:`start_exporter`, queue depths included.
* Worker: :func:`start_exporter` with ``include_queues=False`` (depth is a fleet-wide number).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from octollm.config.observability import MetricsSettings, section
from octollm.observability.queues import QueueDepthCollector, octollm_queues

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_registered: dict[int, Collector] = {}
_lock = threading.Lock()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def queue_depth_collector(settings: Any) -> QueueDepthCollector:
    broker = settings.require_broker_url()
    prefix = settings.queue_prefix
    return QueueDepthCollector(broker, lambda: octollm_queues(prefix, broker))


def register_collectors(settings: Any, registry: CollectorRegistry = REGISTRY) -> None:
    """Add octollm's scrape-time collectors (queue depths) to ``registry``, once per registry."""
    with _lock:
        if id(registry) in _registered:
            return
        collector = queue_depth_collector(settings)
        registry.register(collector)
        _registered[id(registry)] = collector


def metrics_registry(settings: Any, *, include_queues: bool = True) -> CollectorRegistry:
    """The registry to expose: a multiprocess aggregate when the directory is set, else the
    process's default registry."""
    directory = multiprocess_dir()
    if directory is None:
        registry = REGISTRY
    else:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    if include_queues:
        register_collectors(settings, registry)
    return registry


def start_exporter(
    settings: Any,
    *,
    port: int | None = None,
    address: str | None = None,
    include_queues: bool = True,
) -> tuple[Any, threading.Thread]:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread; returns (server, thread)."""
    cfg = section(settings, "metrics", MetricsSettings)
    registry = metrics_registry(settings, include_queues=include_queues)
    server, thread = start_http_server(
        cfg.worker_port if port is None else port, addr=address or cfg.address, registry=registry
    )
    return server, thread


def mark_process_dead(pid: int) -> None:
    """Drop a dead child's live gauges (call from ``worker_process_shutdown``)."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
