"""The ``-A`` target for ``celery worker`` and ``celery beat``: the app with its tasks."""

from octollm.orchestrator.broker.app import app
from octollm.worker import arm_tasks as _arm_tasks  # noqa: F401 - octollm.arm.call
from octollm.worker import capability_keys as _keys  # noqa: F401 - key check at start
from octollm.worker import logs as _logs  # noqa: F401 - every line through structlog
from octollm.worker import pool_option as _pool  # noqa: F401 - --octollm-pool, its time limit
from octollm.worker import registration as _registration  # noqa: F401 - heartbeats
from octollm.worker import tasks as _tasks  # noqa: F401 - registers the tasks

__all__ = ["app"]
