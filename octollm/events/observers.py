"""In-process observers of published events (metrics, tracing). Called after each publish.

Entry points register observers (a worker registers the metrics observer at import); lower
layers only publish, so they never import what watches them. An observer must be cheap and
must not raise: a failing observer is logged and ignored, never allowed to break a step.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from octollm.contracts.event import Event

log = structlog.get_logger(__name__)

Observer = Callable[[Event], None]

_observers: list[Observer] = []


def add_observer(observer: Observer) -> None:
    if observer not in _observers:
        _observers.append(observer)


def remove_observer(observer: Observer) -> None:
    if observer in _observers:
        _observers.remove(observer)


def notify(event: Event) -> None:
    for observer in list(_observers):
        try:
            observer(event)
        except Exception as exc:  # noqa: BLE001 - observers are best effort by contract
            log.warning(
                "event_observer_failed",
                observer=getattr(observer, "__name__", "?"),
                event_type=event.event_type,
                error=str(exc),
            )
