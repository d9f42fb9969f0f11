"""What orchestration code needs from the outside world, built once per process."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import cached_property

import structlog
from celery import Celery

from octollm.config import Settings, get_settings
from octollm.contracts.event import Event, EventType
from octollm.errors import OctoError
from octollm.events import EventBus, NullEventBus, RedisEventBus
from octollm.events.bus import Piggyback
from octollm.orchestrator.broker.queues import Target
from octollm.store.db import Database, Session, after_commit, get_database


@dataclass
class Runtime:
    settings: Settings
    db: Database
    app: Celery
    events: EventBus = field(default_factory=NullEventBus)

    @classmethod
    def build(cls, app: Celery, settings: Settings | None = None) -> Runtime:
        settings = settings or get_settings()
        try:
            events: EventBus = RedisEventBus.from_url(settings.redis_url())
        except (RuntimeError, OctoError):
            if settings.broker.url is not None:
                # A broker with no event bus would publish steps while SSE, webhooks and
                # reactions go silently dead: refuse instead.
                raise
            events = NullEventBus()  # no broker either: a read-only process (status, list)
        return cls(settings=settings, db=get_database(settings), app=app, events=events)

    @cached_property
    def target(self) -> Target:
        return Target(self.settings.queue_prefix, self.settings.require_broker_url())

    @property
    def owner(self) -> str:
        """Lease owner id of this process."""
        return f"{socket.gethostname()}:{os.getpid()}"

    def emit(
        self,
        event_type: EventType,
        task_id: str | None,
        tenant: str = "default",
        *,
        session: Session | None = None,
        request_id: str | None = None,
        source: str = "orchestrator",
        also: Piggyback | None = None,
        **data: object,
    ) -> None:
        """Publish an event; inside a transaction (``session``), only once it has committed,
        so no reader hears of a state change before it can read it (or of one rolled back).

        ``request_id`` is the ``X-Request-ID`` of the request that submitted the task (the
        task row's ``request_id``); when not given, the one bound to the current unit of work
        is used if that unit of work is this task's (a step binds its task's on start).
        ``also``: best-effort Redis writes sent in the event's round trip (not in a
        transaction: those events wait for the commit)."""
        event = Event(
            event_type=EventType(event_type).value,
            source=source,
            task_id=task_id,
            tenant=tenant,
            request_id=request_id or _bound_request_id(task_id),
            data=data,
        )
        if session is None:
            self.events.publish(event, also=also)
            return
        assert also is None, "no piggyback on an event that waits for a commit"
        after_commit(session, _PENDING, event, self._publish)

    def _publish(self, event: object) -> None:
        assert isinstance(event, Event)
        self.events.publish(event)


_PENDING = "octollm.pending_events"


def _bound_request_id(task_id: str | None) -> str | None:
    bound = structlog.contextvars.get_contextvars()
    if task_id is None or bound.get("task_id") != task_id:
        return None
    value = bound.get("request_id")
    return value if isinstance(value, str) else None


_runtime: Runtime | None = None


def get_runtime(app: Celery) -> Runtime:
    """The worker process's runtime (rebuilt after fork: pools must not share connections)."""
    global _runtime
    if _runtime is None or _runtime.app is not app:
        _runtime = Runtime.build(app)
    return _runtime


def reset_runtime() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.db.after_fork()
    _runtime = None
