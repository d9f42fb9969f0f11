"""Submitting a task through the edge: screen, answer from cache, honour the idempotency key,
then hand the contract to ``lifecycle.submit`` (which stores it and enqueues after commit).

The order matters: screening first (nothing risky reaches a table), the cache next, then the
idempotency claim (recorded before the task exists, so a concurrent repeat sees it), and the
submit last; a submit that fails releases the key.

**One path for every entry point.** ``submit`` needs an ``Intake`` (database, Redis, runtime,
edge settings), not the HTTP server: the API passes its ``ApiState``; ``octollm submit`` builds
a ``LocalIntake`` from the settings and calls ``submit_local``, which charges the tenant's
submit bucket as the API does and then runs this same function. So a card number typed into
the CLI is refused or redacted exactly as in a request body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import redis

from octollm.api import metrics, screening
from octollm.api.config import ApiSettings
from octollm.api.resultcache import ResultCache, fingerprint
from octollm.api.schemas import ScreeningReport, TaskAccepted, TaskSubmission
from octollm.api.views import links
from octollm.config import Settings
from octollm.errors import Conflict, RateLimited
from octollm.orchestrator.engine import lifecycle
from octollm.orchestrator.runtime import Runtime
from octollm.security.apikeys import Principal, Scope
from octollm.security.ratelimit import Bucket, RateLimiter
from octollm.store import idempotency
from octollm.store import tasks as task_repo
from octollm.store.db import Database


class Intake(Protocol):
    """What a submission needs; ``ApiState`` is one, ``LocalIntake`` another."""

    @property
    def config(self) -> ApiSettings: ...
    @property
    def runtime(self) -> Runtime: ...
    @property
    def redis(self) -> redis.Redis: ...
    @property
    def db(self) -> Database: ...


@dataclass(frozen=True)
class Outcome:
    accepted: TaskAccepted
    fresh: bool  # a new task was queued by this request


def body_digest(submission: TaskSubmission) -> str:
    data = submission.model_dump(mode="json", exclude={"task_id", "created_at"})
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _accepted(
    task_id: str,
    status: str,
    created_at: datetime,
    *,
    report: ScreeningReport | None = None,
    **flags: Any,
) -> TaskAccepted:
    return TaskAccepted(
        task_id=task_id,
        status=status,
        created_at=created_at,
        links=links(task_id),
        screening=report,
        **flags,
    )


def _replay(state: Intake, tenant: str, task_id: str) -> TaskAccepted:
    with state.db.session() as session:
        row = task_repo.get(session, task_id, tenant=tenant)
    if row is None:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed",
            retry_after=1,
            details={"task_id": task_id},
        )
    return _accepted(row.id, row.status, row.created_at, idempotent_replay=True)


def submit(
    state: Intake,
    principal: Principal,
    submission: TaskSubmission,
    *,
    request_id: str | None,
    idempotency_key: str | None = None,
    use_cache: bool = True,
) -> Outcome:
    tenant = principal.tenant
    contract = submission.contract()
    if contract.plan is not None:
        lifecycle.validate_plan(contract.plan)
    contract, report = screening.screen(contract, state.config.screening_for(tenant))
    metrics.SCREENING.labels(report.action).inc()

    cache = ResultCache(state.redis, state.db, state.config.cache_ttl_seconds)
    digest = fingerprint(contract)
    caching = use_cache and state.config.cache_enabled(tenant)
    hit = cache.lookup(tenant, digest) if caching else None
    if caching:
        metrics.CACHE_LOOKUPS.labels("api", "hit" if hit else "miss").inc()
    task_id = hit.id if hit is not None else contract.task_id

    if idempotency_key is not None:
        sha = body_digest(submission)
        with state.db.session() as session:
            earlier = idempotency.claim(
                session, tenant, idempotency_key, sha, task_id, state.config.idempotency_ttl_hours
            )
        idempotency.pause_after_claim()  # test hook; see store/idempotency.py
        if earlier is not None and earlier.orphaned:  # its claimant died: ours, same task id
            task_id = earlier.task_id
            contract = contract.model_copy(update={"task_id": task_id})
        elif earlier is not None:
            if earlier.body_sha256 != sha:
                raise Conflict(
                    "this Idempotency-Key was used with a different request body",
                    details={"idempotency_key": idempotency_key},
                )
            return Outcome(_replay(state, tenant, earlier.task_id), fresh=False)

    if hit is not None:
        accepted = _accepted(
            hit.id, hit.status, hit.created_at, report=report, cache_hit=True, result=hit.result
        )
        return Outcome(accepted, fresh=False)

    try:
        row = lifecycle.submit(state.runtime, contract, tenant=tenant, request_id=request_id)
    except BaseException:
        if idempotency_key is not None:
            with state.db.session() as session:
                idempotency.release(session, tenant, idempotency_key, task_id)
        raise
    metrics.TASKS_SUBMITTED.labels(row.priority).inc()
    if caching:
        cache.remember(tenant, digest, row.id, contract.budget.max_time_seconds)
    return Outcome(_accepted(row.id, row.status, row.created_at, report=report), fresh=True)


@dataclass
class LocalIntake:
    """An ``Intake`` for a process that is not the API server (``octollm submit``)."""

    runtime: Runtime
    redis: redis.Redis
    config: ApiSettings

    @property
    def db(self) -> Database:
        return self.runtime.db

    @classmethod
    def build(cls, app: Any, settings: Settings, config: ApiSettings | None = None) -> LocalIntake:
        runtime = Runtime.build(app, settings)
        client = redis.Redis.from_url(
            settings.redis_url(), socket_timeout=5, socket_connect_timeout=5
        )
        return cls(runtime=runtime, redis=client, config=config or settings.api)

    def close(self) -> None:
        self.redis.close()
        self.runtime.db.dispose()


def submit_local(
    intake: Intake,
    tenant: str,
    submission: TaskSubmission,
    *,
    idempotency_key: str | None = None,
    use_cache: bool = True,
) -> Outcome:
    """Submit as ``tenant`` from outside the API: its submit rate limit, then ``submit``."""
    config = intake.config
    if config.rate_limits.enabled:
        spec = config.submit_rate(tenant)
        limiter = RateLimiter(intake.redis)
        decision = limiter.hit(
            [Bucket(limiter.key("submit", "tenant", tenant), spec.burst, spec.rate)], 1
        )
        if not decision.allowed:
            raise RateLimited(
                f"rate limit exceeded for tenant {tenant!r} (submit); "
                f"retry in {decision.retry_after_seconds} s",
                retry_after=decision.retry_after_seconds,
                details={"limit": decision.limit, "kind": "submit"},
            )
    principal = Principal(key_id="local", tenant=tenant, scopes=frozenset({Scope.TASK_SUBMIT}))
    return submit(
        intake,
        principal,
        submission,
        request_id=None,
        idempotency_key=idempotency_key,
        use_cache=use_cache,
    )
