"""The ``-A`` target for ``celery worker`` and ``celery beat``: the app with its tasks."""

from octollm.orchestrator.app import app
from octollm.worker import tasks as _tasks  # noqa: F401 - registers the tasks

__all__ = ["app"]
