"""The FastAPI application: ``create_app(settings)``.

Nothing connects at import or at ``create_app``: the lifespan builds the process's state
(database pool, Redis clients, the Celery producer, the readiness checker) and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from octollm.api import problems
from octollm.api.config import ApiSettings
from octollm.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from octollm.api.routes import (
    arms,
    batches,
    deadletters,
    fleet,
    keys,
    knowledge,
    ops,
    streams,
    tasks,
    tenants,
    ui,
    webhooks,
)
from octollm.api.shedding import LoadSheddingMiddleware
from octollm.api.state import ApiState
from octollm.config import Settings, get_settings
from octollm.events import add_observer
from octollm.logging import configure_logging
from octollm.observability import metrics, tracing
from octollm.orchestrator.capability import startup
from octollm.security.capability import FIX
from octollm.security.keyring import KeyringError
from octollm.store import idempotency

log = structlog.get_logger(__name__)

PURGE_INTERVAL_SECONDS = 3600.0

DESCRIPTION = """Submit tasks to octollm's orchestrator and follow them.

Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`. Every resource belongs
to the key's tenant. Scopes: `task:submit`, `task:read`, `task:cancel`, `arm:list`,
`arm:register`, `webhook:manage`; `admin` implies all of them. Errors share one shape:
`{error: {code, message, category, details}, request_id}`. Send `X-Request-ID` to correlate
logs and task events; it is echoed on every response.
"""


async def _purge_idempotency_keys(state: ApiState) -> None:
    """Drop idempotency records past their window, hourly (any API process may do it)."""

    def purge() -> int:
        with state.db.session() as session:
            return idempotency.purge(session, state.config.idempotency_ttl_hours)

    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        try:
            removed = await run_in_threadpool(purge)
        except Exception as exc:  # noqa: BLE001 - housekeeping must not end the process
            log.warning("idempotency_purge_failed", error=str(exc)[:200])
            continue
        log.info("idempotency_keys_purged", removed=removed)


def create_app(settings: Settings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """The API for ``settings`` (default: the environment's); ``api`` tunes the edge
    (default: ``settings.api``, the ``OCTOLLM_API__*`` variables)."""
    edge = api or (settings or get_settings()).api

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        configure_logging(resolved.log.level, json_output=resolved.log.json_output)
        tracing.install(otel=resolved.tracing.otel)
        add_observer(metrics.observe_event)
        try:  # the API mints tokens (canvases, webhook deliveries): it needs the private keys
            startup.check(resolved, publishes=True, process="api")
        except KeyringError as exc:
            log.error("capability_keys_unusable", process="api", reason=exc.message, fix=FIX)
            raise
        state = ApiState.build(resolved, edge)
        app.state.octollm = state
        purger = asyncio.create_task(_purge_idempotency_keys(state))
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await state.close()

    app = FastAPI(
        title="octollm",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    # Added first, so it runs inside the request context (request id, access line, metrics).
    app.add_middleware(BodyLimitMiddleware, max_bytes=edge.max_body_bytes)
    app.add_middleware(LoadSheddingMiddleware, max_in_flight=edge.max_in_flight)
    app.add_middleware(RequestContextMiddleware)
    for module in (
        tasks,
        batches,
        streams,
        arms,
        keys,
        webhooks,
        deadletters,
        fleet,
        ops,
        knowledge,
        ui,
        tenants,
    ):
        app.include_router(module.router)
    app.mount("/ui/assets", ui.assets(), name="ui-assets")
    return app
