"""Serving metrics: which registry, which collectors, which port.

Choice for workers: ``prometheus_client`` **multiprocess mode** (``PROMETHEUS_MULTIPROC_DIR``).
The executor pool is prefork and recycles children (``max_tasks_per_child``); a per-process
HTTP port would need one port per child and lose a child's counts when it is recycled, while
multiprocess files survive the child and one exporter per host serves the sum. Thread pools
run in one process, so without the directory a worker simply serves its default registry on
``metrics.worker_port``.

* API: ``GET /metrics`` serves ``metrics_registry(settings)``, built once per process (queue
  depths + this process's metrics, or every process's metrics in multiprocess mode).
* Fleet exporter (``octollm metrics``): :func:`start_exporter`, queue depths included.
* Worker: :func:`start_exporter` with ``include_queues=False`` (depth is a fleet-wide number).

The directory: ``PROMETHEUS_MULTIPROC_DIR`` when set (the operator owns it and clears it at
deploy, as prometheus_client's docs ask); otherwise ``octollm worker``, ``octollm run`` and
``octollm metrics`` use ``<data dir>/prometheus`` (:func:`prepare_multiprocess_dir`): created if
missing, and cleared before start of the files of processes that no longer run (the files are
named ``<kind>_<pid>.db``), so the workers running on the host keep theirs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the dev deps
from prometheus_client import REGISTRY, CollectorRegistry, Metric, start_http_server
from prometheus_client.registry import Collector

from octollm.config.observability import MetricsSettings
from octollm.observability.queues import QueueDepthCollector, octollm_queues
from octollm.observability.tenants import TenantCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(settings: Any, env: MutableMapping[str, str] | None = None) -> Path:
    """Point ``env`` (default: this process's environment) at the multiprocess directory,
    defaulting it to ``<data dir>/prometheus``; create it and drop dead processes' files.

    Call it before the processes that write metrics start (prometheus_client reads the
    variable when it is imported)."""
    env = os.environ if env is None else env
    configured = env.get(MULTIPROC_ENV)
    path = Path(configured) if configured else Path(settings.data_dir) / "prometheus"
    path.mkdir(parents=True, exist_ok=True)
    if not configured:
        remove_dead_process_files(path)
    env[MULTIPROC_ENV] = str(path)
    return path


def remove_dead_process_files(path: Path) -> list[Path]:
    """Delete the ``<kind>_<pid>.db`` files whose process is gone; returns them."""
    removed = []
    for file in path.glob("*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            file.unlink(missing_ok=True)
            removed.append(file)
    return removed


def queue_depth_collector(settings: Any) -> QueueDepthCollector:
    broker = settings.require_broker_url()
    prefix = settings.queue_prefix
    return QueueDepthCollector(broker, lambda: octollm_queues(prefix, broker))


class _ProcessMetrics(Collector):
    """This process's default registry, served through another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()

    def describe(self) -> Iterable[Metric]:
        return ()


def metrics_registry(settings: Any, *, include_queues: bool = True) -> CollectorRegistry:
    """A registry to expose (build it once per server): every process's metrics when the
    multiprocess directory is set, else this process's; plus the queue depths of
    ``settings``' broker and prefix and the per-tenant gauges when ``include_queues``."""
    registry = CollectorRegistry()
    directory = multiprocess_dir()
    if directory is None:
        registry.register(_ProcessMetrics())
    else:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    if include_queues:
        registry.register(queue_depth_collector(settings))
        registry.register(TenantCollector(settings))
    return registry


def start_exporter(
    settings: Any,
    *,
    port: int | None = None,
    address: str | None = None,
    include_queues: bool = True,
) -> tuple[Any, threading.Thread]:
    """Serve ``/metrics`` on ``address:port`` from a daemon thread; returns (server, thread)."""
    cfg: MetricsSettings = settings.metrics
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
