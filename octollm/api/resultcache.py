"""The reflex result cache: an identical request answered by a completed task.

Two requests are identical when their normalised content is: goal (whitespace collapsed),
constraints, acceptance criteria, context, aggregation and explicit plan. Priority, budget,
deadline and metadata change how a task runs, not what it answers, so they are left out.
The key is ``octollm:api:cache:{tenant}:{sha256}`` and names the task that answers it; the
entry lives for the task's time budget plus the TTL, and only a task that completed within the
TTL answers. Callers opt out per request with ``Cache-Control: no-cache``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import redis

from octollm.contracts.status import TaskStatus
from octollm.contracts.task import TaskContract
from octollm.store import tasks as task_repo
from octollm.store.db import Database
from octollm.store.models import TaskRow


def fingerprint(contract: TaskContract) -> str:
    data = contract.model_dump(mode="json")
    normalised = {
        "goal": " ".join(contract.goal.split()),
        "constraints": data["constraints"],
        "acceptance_criteria": data["acceptance_criteria"],
        "context": data["context"],
        "aggregation": data["aggregation"],
        "plan": data["plan"]["steps"] if data.get("plan") else None,
    }
    blob = json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResultCache:
    def __init__(self, client: redis.Redis, db: Database, ttl_seconds: int) -> None:
        self.client = client
        self.db = db
        self.ttl = ttl_seconds

    @staticmethod
    def key(tenant: str, digest: str) -> str:
        return f"octollm:api:cache:{tenant}:{digest}"

    def lookup(self, tenant: str, digest: str) -> TaskRow | None:
        """The completed task that answers this request, if one is fresh enough."""
        try:
            raw = self.client.get(self.key(tenant, digest))
        except redis.RedisError:
            return None  # a cache that is down is a miss, never an error
        if raw is None:
            return None
        task_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        with self.db.session() as session:
            row = task_repo.get(session, task_id, tenant=tenant)
        if row is None or row.status != TaskStatus.COMPLETED.value or row.finished_at is None:
            return None
        if row.finished_at + timedelta(seconds=self.ttl) < datetime.now(UTC):
            return None
        return row

    def remember(self, tenant: str, digest: str, task_id: str, max_time_seconds: int) -> None:
        try:
            self.client.set(self.key(tenant, digest), task_id, ex=self.ttl + max_time_seconds)
        except redis.RedisError:
            return

    def forget_tenant(self, tenant: str) -> int:
        """Drop every cached answer of ``tenant`` (its knowledge changed); how many went."""
        dropped = 0
        try:
            for key in self.client.scan_iter(match=self.key(tenant, "*"), count=500):
                dropped += int(self.client.delete(key))
        except redis.RedisError:
            pass  # a cache that is down holds nothing to forget
        return dropped
