"""The FastAPI application: ``create_app(settings)``.

Nothing connects at import or at ``create_app``: the lifespan builds the process's state
(database pool, Redis clients, the Celery producer, the readiness checker) and closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from octollm.api import problems
from octollm.api.config import ApiSettings
from octollm.api.middleware import RequestContextMiddleware
from octollm.api.routes import arms, batches, deadletters, keys, ops, streams, tasks
from octollm.api.state import ApiState
from octollm.config import Settings, get_settings
from octollm.logging import configure_logging

DESCRIPTION = """Submit tasks to octollm's orchestrator and follow them.

Authenticate with `X-API-Key: <key>` or `Authorization: Bearer <key>`. Every resource belongs
to the key's tenant. Errors share one shape: `{error: {code, message, category, details},
request_id}`. Send `X-Request-ID` to correlate logs; it is echoed on every response.
"""


def create_app(settings: Settings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """The API for ``settings`` (default: the environment's); ``api`` tunes the edge
    (default: ``OCTOLLM_API__*`` variables)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or get_settings()
        configure_logging(resolved.log.level, json_output=resolved.log.json_output)
        state = ApiState.build(resolved, api or ApiSettings())
        app.state.octollm = state
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="octollm",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(RequestContextMiddleware)
    for module in (tasks, batches, streams, arms, keys, deadletters, ops):
        app.include_router(module.router)
    return app
