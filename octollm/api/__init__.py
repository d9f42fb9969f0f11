"""The REST API (FastAPI): tasks, batches, streams, arms, keys, dead letters, ops.

``create_app(settings)`` builds the application; ``octollm.api.server.serve`` runs it.
"""

from octollm.api.app import create_app

__all__ = ["create_app"]
