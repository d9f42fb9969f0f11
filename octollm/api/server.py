"""``octollm api``: serve the API with uvicorn."""

from __future__ import annotations

from typing import Any

import uvicorn

from octollm.api.app import create_app
from octollm.config import Settings


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the API until interrupted: one event loop in this process, or ``workers`` processes
    on one socket (each builds its app from the environment's settings). Processes share
    nothing but Postgres and Redis: rate limits, idempotency and streams live there."""
    target: Any = create_app(settings) if workers == 1 else "octollm.api.app:create_app"
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_config=None,  # octollm's logging (configured in the lifespan) handles uvicorn's
        proxy_headers=True,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=10,
    )
