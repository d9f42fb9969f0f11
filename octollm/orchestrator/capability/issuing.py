"""Issuing capability tokens for the step messages of a canvas.

Tokens are minted when a canvas is published (``dispatch.publish`` and the outbox ``relay``),
one per step message, and travel in the message's ``octollm_capability`` header: the body
stays ids only. A re-drive, a resume or a dead-letter replay publishes a new canvas, hence new
tokens; a Celery retry of a step re-issues one (``worker.tasks``).

**Lifetime.** A canvas is published whole, but its later levels are delivered only when the
earlier ones finish. A token therefore lives until its task's deadline (a step cannot run
after it anyway), capped at ``capability.max_ttl_seconds`` and at least ``min_ttl_seconds``.
A step delivered after its token expired (a task with a budget longer than the cap, a long
backlog) is refused and recorded, stays queued, and the reconciler's stall detection re-drives
it under a new generation with fresh tokens.

**Where the keys come from.** Publishers have a Celery app but not always the settings the app
was built from (tests, the API), so ``celery_config`` puts the capability settings into the
app's configuration (``octollm_capability_*``: key file paths, never keys) and the publisher
reads them back from ``app.conf``. Keyrings are cached per process and keyed on the files'
modification times, so ``octollm keys capability rotate`` reaches running publishers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from octollm.config import Settings
from octollm.orchestrator.capability.grants import grant_for
from octollm.security import keyring
from octollm.security.capability import CapabilityAuthority
from octollm.store import steps as step_repo
from octollm.store.db import Connection, Session

log = structlog.get_logger(__name__)

_authorities: dict[tuple[Any, ...], CapabilityAuthority] = {}
_lock = threading.Lock()


def authority(settings: Settings) -> CapabilityAuthority:
    """The process's authority for ``settings`` (keyring loaded or generated once, reloaded
    when a key file changes)."""
    cfg = settings.capability
    return _authority(cfg.keys_file, cfg.public_keys_file, settings.data_dir, cfg.leeway_seconds)


def authority_from_conf(conf: Mapping[str, Any]) -> CapabilityAuthority:
    private = conf.get("octollm_capability_keys_file")
    public = conf.get("octollm_capability_public_keys_file")
    return _authority(
        Path(private) if private else None,
        Path(public) if public else None,
        Path(str(conf["octollm_capability_dir"])),
        float(conf.get("octollm_capability_leeway", 5.0)),
    )


def _authority(
    keys_file: Path | None, public_keys_file: Path | None, data_dir: Path, leeway: float
) -> CapabilityAuthority:
    stamp = keyring.mtimes(keys_file, public_keys_file)
    key = (keys_file, public_keys_file, data_dir, leeway, stamp)
    with _lock:
        found = _authorities.get(key)
        if found is None:
            ring, _generated = keyring.load(keys_file, public_keys_file, data_dir)
            found = CapabilityAuthority(ring, leeway_seconds=leeway)
            _authorities[key] = found
        return found


def describe(settings: Settings) -> tuple[CapabilityAuthority, bool]:
    """The authority and whether its keyring was generated on this host (not configured)."""
    cfg = settings.capability
    generated = cfg.keys_file is None and cfg.public_keys_file is None
    return authority(settings), generated


def expiry(
    deadline: datetime | None, max_ttl: float, min_ttl: float, now: float | None = None
) -> float:
    """When a token issued now expires: at the task's deadline, within [min_ttl, max_ttl]."""
    now = time.time() if now is None else now
    until = now + max_ttl
    if deadline is not None:
        until = min(until, deadline.timestamp())
    return max(until, now + min_ttl)


@dataclass(frozen=True)
class GrantFact:
    """What a step's token derives from, when the publisher has it at hand (a submit that
    just wrote the rows): saves ``grant_facts``'s read."""

    input: dict[str, Any]
    deadline: datetime | None


def issue_for_canvas(
    conf: Mapping[str, Any],
    conn: Session | Connection | None,
    task_id: str,
    generation: int,
    arms: Mapping[str, str],
    *,
    known: Mapping[str, GrantFact] | None = None,
) -> dict[str, str]:
    """One token per step of a canvas about to be published (``arms``: each step's arm, by
    step id), by step id. ``known``: the steps' grant facts, else read through ``conn``."""
    if not arms:
        return {}
    # ``get``, not ``in``: Celery loads a lazily configured app's settings on item access only.
    if conf.get("octollm_capability_dir") is None:
        log.warning("capability_tokens_unconfigured", task_id=task_id, steps=len(arms))
        return {}
    issuer = authority_from_conf(conf)
    if known is not None:
        found: Mapping[str, Any] = known
    else:
        assert conn is not None
        found = step_repo.grant_facts(conn, task_id, list(arms))
    limit = float(conf.get("octollm_step_time_limit", 900.0))
    now = time.time()
    tokens: dict[str, str] = {}
    for step_id, arm in arms.items():
        row = found.get(step_id)
        step_input: dict[str, Any] = dict(row.input) if row is not None else {}
        deadline = row.deadline if row is not None else None
        grant = grant_for(arm, step_input, step_time_limit=limit)
        tokens[step_id] = issuer.issue(
            arm=arm,
            task_id=task_id,
            step_id=step_id,
            generation=generation,
            expires_at=expiry(
                deadline,
                float(conf.get("octollm_capability_max_ttl", 900.0)),
                float(conf.get("octollm_capability_min_ttl", 60.0)),
                now,
            ),
            scopes=grant.scopes,
            constraints=grant.constraints,
            now=now,
        )
    return tokens


def reissue(
    settings: Settings,
    *,
    arm: str,
    task_id: str,
    step_id: str,
    generation: int,
    step_input: Mapping[str, Any],
    deadline: datetime | None,
) -> str:
    """A fresh token for the next delivery of a step (a Celery retry)."""
    cfg = settings.capability
    grant = grant_for(
        arm, step_input, step_time_limit=settings.orchestrator.step_time_limit_seconds
    )
    return authority(settings).issue(
        arm=arm,
        task_id=task_id,
        step_id=step_id,
        generation=generation,
        expires_at=expiry(deadline, cfg.max_ttl_seconds, cfg.min_ttl_seconds),
        scopes=grant.scopes,
        constraints=grant.constraints,
    )
