"""Every worker and beat says at start which capability keys it holds, and will not start
without usable ones (``orchestrator.capability.startup.check``, which the API runs too).

One line at ``celeryd_init`` / ``beat_init``: ``capability_keys`` (info) with the key ids and
the role (signs / verify-only); ``capability_keys_generated_here`` (warning) when nothing is
configured and the keyring came from this host's data directory — fine on one host, but a
worker on another host would refuse every token; ``capability_keys_unusable`` (error, then
exit 2) when a configured key file is missing or unreadable, or when a pool that mints
tokens (orchestrator, webhooks, beat) holds only public keys.
"""

from __future__ import annotations

import sys
from typing import Any

import structlog
from celery.signals import beat_init, celeryd_init

from octollm.config import get_settings
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.capability.startup import check
from octollm.security.capability import FIX
from octollm.security.keyring import KeyringError
from octollm.webhooks.registry import WEBHOOKS_QUEUE_ARM
from octollm.worker import logs as _logs  # noqa: F401 - its celeryd_init receiver runs first

log = structlog.get_logger(__name__)

#: Pools whose work mints tokens (canvases, retries, reactions, webhook deliveries).
PUBLISHING_ARMS = frozenset({routing.CONTROL_ARM, WEBHOOKS_QUEUE_ARM})


def _fail(process: str, exc: KeyringError) -> None:
    log.error("capability_keys_unusable", process=process, reason=exc.message, fix=FIX)
    print(f"octollm {process}: capability keys unusable: {exc.message}", file=sys.stderr)
    raise SystemExit(2)


def _queues(options: dict[str, Any]) -> list[str]:
    raw = options.get("queues") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return [str(q).strip() for q in raw if str(q).strip()]


def publishes(queue_names: list[str], prefix: str) -> bool:
    """Whether a worker consuming ``queue_names`` mints tokens (no ``-Q``: every queue)."""
    if not queue_names:
        return True
    arms = {q[len(prefix) + 1 :].split(".")[0] for q in queue_names if q.startswith(f"{prefix}.")}
    return bool(arms & PUBLISHING_ARMS)


@celeryd_init.connect
def _on_worker_init(sender: Any = None, options: dict[str, Any] | None = None, **_: Any) -> None:
    settings = get_settings()
    process = f"worker {sender or ''}".strip()
    try:
        check(
            settings,
            publishes=publishes(_queues(options or {}), settings.queue_prefix),
            process=process,
        )
    except KeyringError as exc:
        _fail(process, exc)


@beat_init.connect
def _on_beat_init(**_: Any) -> None:
    try:
        check(get_settings(), publishes=True, process="beat")
    except KeyringError as exc:
        _fail("beat", exc)
