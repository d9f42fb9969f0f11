"""The Python client for octollm's REST API: ``OctoClient`` (sync) and ``AsyncOctoClient``.

Imports httpx, tenacity and pydantic only: no server-side dependency comes with it.
"""

from octollm.client.aio import AsyncOctoClient
from octollm.client.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    OctoAPIError,
    OctoClientError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    ValidationError,
    WaitTimeout,
)
from octollm.client.models import (
    TERMINAL_STATUSES,
    Batch,
    Step,
    Task,
    TaskAccepted,
    TaskEvent,
    TaskPage,
    TaskSummary,
)
from octollm.client.sync import OctoClient

__all__ = [
    "TERMINAL_STATUSES",
    "AsyncOctoClient",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "ConflictError",
    "NotFoundError",
    "OctoAPIError",
    "OctoClient",
    "OctoClientError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "Step",
    "Task",
    "TaskAccepted",
    "TaskEvent",
    "TaskPage",
    "TaskSummary",
    "ValidationError",
    "WaitTimeout",
]
