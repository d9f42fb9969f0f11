"""Per-tenant gauges, read from Postgres at scrape time (fleet-wide numbers, like the queue
depths): unfinished tasks, canvases held by the fair dispatcher, running steps, and whether a
tenant is throttled (held work while at its running-steps limit). An unreachable database
yields no samples, not an error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from octollm.orchestrator.fairness import tenants as tenant_views
from octollm.store.db import Database

log = structlog.get_logger(__name__)


class TenantCollector(Collector):
    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self._db: Database | None = None

    def collect(self) -> Iterator[Any]:
        families = {
            "unfinished": GaugeMetricFamily(
                "octollm_tenant_unfinished_tasks",
                "Each tenant's tasks not ended yet.",
                labels=["tenant"],
            ),
            "queued": GaugeMetricFamily(
                "octollm_tenant_queued_canvases",
                "Ready canvases held in Postgres for the tenant's turn (fair dispatch).",
                labels=["tenant"],
            ),
            "running": GaugeMetricFamily(
                "octollm_tenant_running_steps", "Each tenant's running steps.", labels=["tenant"]
            ),
            "throttled": GaugeMetricFamily(
                "octollm_tenant_throttled",
                "1 when the tenant has held work and is at its running-steps limit.",
                labels=["tenant"],
            ),
        }
        try:
            if self._db is None:
                self._db = Database.from_settings(self.settings)
            views = tenant_views.overview(self._db)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because Postgres is away
            log.warning("tenant_metrics_unavailable", error=str(exc)[:200])
            return
        for view in views:
            name = view.limits.tenant
            limit = view.limits.max_running
            throttled = view.held_canvases > 0 and limit is not None and view.running_steps >= limit
            families["unfinished"].add_metric([name], view.unfinished_tasks)
            families["queued"].add_metric([name], view.held_canvases)
            families["running"].add_metric([name], view.running_steps)
            families["throttled"].add_metric([name], 1.0 if throttled else 0.0)
        yield from families.values()

    def describe(self) -> Iterator[Any]:
        return iter(())
