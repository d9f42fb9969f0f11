"""``octollm api``: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from octollm.api.app import create_app
from octollm.config import Settings


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API in this process until interrupted (one event loop; scale out with more
    processes behind a balancer: rate limits, idempotency and streams live in Redis and
    Postgres, so processes share nothing else)."""
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,  # octollm's logging (configured in the lifespan) handles uvicorn's
        proxy_headers=True,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        timeout_graceful_shutdown=10,
    )
