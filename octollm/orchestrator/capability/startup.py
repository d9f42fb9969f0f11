"""The capability-key line every process logs at start (worker, beat, API): see
``octollm.worker.capability_keys`` for the lines and when a process refuses to start."""

from __future__ import annotations

import structlog

from octollm.config import Settings
from octollm.orchestrator.capability import issuing
from octollm.security.keyring import KeyringError
from octollm.store.db import tcp_host

log = structlog.get_logger(__name__)


def check(settings: Settings, *, publishes: bool, process: str) -> str:
    """Log the keys this process holds; raise ``KeyringError`` when it cannot do its work."""
    authority, generated = issuing.describe(settings)
    ring = authority.keyring
    if publishes and not authority.can_issue:
        raise KeyringError(
            f"the {process} mints capability tokens but holds only public keys "
            f"({ring.source}): set OCTOLLM_CAPABILITY__KEYS_FILE to the private keyring"
        )
    if generated and _remote_database(settings):
        log.warning(
            "capability_keys_generated_here",
            process=process,
            kid=ring.current_kid,
            path=ring.source,
            advice="fine on one host; on several hosts every other host refuses these tokens: "
            "make a keyring with `octollm keys capability rotate --file <path>` and set "
            "OCTOLLM_CAPABILITY__KEYS_FILE (publishers) / PUBLIC_KEYS_FILE (arm workers)",
        )
    else:
        log.info("capability_keys", process=process, keys=ring.describe())
    return ring.describe()


def _remote_database(settings: Settings) -> bool:
    """Whether the database is reached over TCP (then processes on other hosts may share it,
    or, as in the issue, processes with other data directories on this one); the embedded
    default's unix socket is not."""
    if settings.database.url is None:
        return False
    return tcp_host(settings.database.url.get_secret_value()) is not None
