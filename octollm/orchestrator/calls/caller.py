"""Direct arm-to-arm calls: an arm asks another arm's capability through that arm's queue.

The coder's validate-and-fix loop calls the judge this way. One call::

    caller (coder pool thread)                       callee (judge pool)
    input -> hand-off key octollm:tenant:<t>:handoff:coder:call:<sha256>   (Redis, TTL)
    token aud=judge, sub=<task>/<step>#call-<id>, scope arm:call,
          constraints {caller, tenant, handoff: <key>}
    octollm.arm.call(call_id, judge, key, task, step, gen)  -> <prefix>.judge.high
    BLPOP octollm:tenant:<t>:armcall:reply:<call_id>         verify token (audience, subject,
                                                             scope, the hand-off key), the
                                                             task row (its tenant = the
                                                             token's), single use; read the
                                                             hand-off in the row tenant's
                                                             namespace, run the judge with
                                                             that tenant's collaborators,
                                                             RPUSH the reply

**Tenancy.** The caller is bound to its step's tenant (``for_tenant``, from the task row via
``orchestrator.tenancy``); its hand-off and reply keys live in that tenant's namespace. The
callee takes the tenant from the task row the token names, never from the message, and reads
only that tenant's hand-off: a message with another tenant's token, or pointing at another
tenant's hand-off, is refused and recorded (``arm_callee``).

**Why a Redis reply key, not ``AsyncResult.get()``.** Waiting on a Celery result inside a task
needs ``allow_join_result`` (Celery forbids it by default because a pool that waits on its own
queue deadlocks), ties the call to the result backend (which octollm keeps for chord counting
only) and leaves the result behind after a timeout. A reply list read with ``BLPOP`` is one
round trip, has a TTL, and is simply never read when the caller gave up. The call message is
sent without ``acks_late``: a lost call is retried by the caller under a new call id rather than
redelivered (its token is single-use anyway).

**Not blocking a pool the callee needs.** The caller waits on its own pool's thread; the callee
runs in its own pool (``<prefix>.judge.*``), so the wait can never hold the slot the answer
needs, unless one pool serves both arms: do not put a caller and its callee in one pool
(``broker/fleet.toml`` keeps every arm in its own). Calls go out at ``high`` urgency: a
waiting caller holds a slot, so answering it first frees capacity. The wait is bounded by
``resilience.arm_call_timeout_seconds`` and by the caller's step deadline; a timeout is a
``ServiceUnavailable`` that is retried (``resilience.arm_call_attempts``) and counted by the
callee's circuit breaker (``octollm:breaker:arm:<callee>``), which then fails calls fast.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import redis
import structlog

from octollm.arms.base import ArmContext
from octollm.contracts.arm import ErrorInfo
from octollm.errors import ArmRefused, PermanentError, ServiceUnavailable
from octollm.memory.cache import Cache, tenant_prefix
from octollm.memory.handoff import Handoff
from octollm.orchestrator.broker import queues as routing
from octollm.orchestrator.calls.providers import breaker, redis_client
from octollm.orchestrator.capability import issuing
from octollm.orchestrator.runtime import Runtime
from octollm.resilience import Guard, RetryPolicy
from octollm.security.capability import TOKEN_HEADER

log = structlog.get_logger(__name__)

CALL_TASK = "octollm.arm.call"
CALL_URGENCY = "high"
REPLY_TTL_SECONDS = 120


def reply_key(tenant: str, call_id: str) -> str:
    return f"{tenant_prefix(tenant)}armcall:reply:{call_id}"


def call_subject(step_id: str, call_id: str) -> str:
    """The token subject's step part for one call (binds the token to this call id)."""
    return f"{step_id}#call-{call_id}"


_blocking: dict[tuple[str, int], redis.Redis] = {}
_lock = threading.Lock()


def _blocking_client(url: str, longest_wait: float) -> redis.Redis:
    """A client whose socket waits longer than any BLPOP it serves (the pooled ones time out
    after 5 s); one per URL and configured call timeout."""
    key = (url, int(longest_wait) + 10)
    with _lock:
        client = _blocking.get(key)
        if client is None:
            client = redis.Redis.from_url(url, socket_timeout=key[1], socket_connect_timeout=5)
            _blocking[key] = client
        return client


def handoff_for(rt: Runtime, tenant: str) -> Handoff:
    cache = Cache(redis_client(rt.settings.redis_url()))
    return Handoff(cache, tenant=tenant, ttl_seconds=rt.settings.memory.handoff_ttl_seconds)


class RedisArmCaller:
    """``arms.collaboration.ArmCaller`` over Celery queues and Redis. Built once per arm and
    process *unbound*; ``for_tenant`` gives the caller a step uses (``orchestrator.tenancy``)."""

    def __init__(self, rt: Runtime, caller: str, tenant: str | None = None) -> None:
        self.rt = rt
        self.caller = caller
        self.tenant = tenant

    def for_tenant(self, tenant: str) -> RedisArmCaller:
        return RedisArmCaller(self.rt, self.caller, tenant)

    def call(self, arm: str, input: Mapping[str, Any], ctx: ArmContext) -> dict[str, Any]:
        if not self.tenant:
            raise ArmRefused(
                "an arm call needs the tenant of its step (bind the caller first)",
                details={"rule": "tenancy"},
            )
        capability = ctx.services.get("capability")
        if capability is not None and not capability.allows(f"arm:call:{arm}"):
            raise ArmRefused(
                f"the {self.caller} step's capability does not grant calling the {arm} arm",
                details={"rule": "capability", "scope": f"arm:call:{arm}"},
            )
        cfg = self.rt.settings.resilience
        client = redis_client(self.rt.settings.redis_url())
        guard = Guard(
            RetryPolicy(attempts=cfg.arm_call_attempts, base_seconds=0.2, max_seconds=2.0),
            breaker(client, f"arm:{arm}", cfg, f"the {arm} arm", error=ServiceUnavailable),
        )
        generation = int(getattr(capability, "generation", 0))
        return guard.call(lambda: self._once(arm, dict(input), ctx, generation))

    def _once(
        self, arm: str, payload: dict[str, Any], ctx: ArmContext, generation: int
    ) -> dict[str, Any]:
        settings = self.rt.settings
        wait = settings.resilience.arm_call_timeout_seconds
        left = ctx.remaining()
        if left is not None:
            wait = max(0.5, min(wait, left))
        call_id = uuid.uuid4().hex
        tenant = str(self.tenant)
        key = handoff_for(self.rt, tenant).put(self.caller, "call", payload, ttl=int(wait) + 60)
        token = issuing.authority(settings).issue(
            arm=arm,
            task_id=ctx.task_id,
            step_id=call_subject(ctx.step_id, call_id),
            generation=generation,
            expires_at=time.time() + wait + 30,
            scopes=("arm:call", f"arm:{arm}"),
            constraints={"caller": self.caller, "tenant": tenant, "handoff": key},
        )
        options = routing.route(
            settings.queue_prefix, arm, CALL_URGENCY, settings.require_broker_url()
        )
        self.rt.app.send_task(
            CALL_TASK,
            args=(call_id, arm, key, ctx.task_id, ctx.step_id, generation),
            headers={TOKEN_HEADER: token},
            ignore_result=True,
            expires=wait,
            **options,
        )
        started = time.monotonic()
        longest = settings.resilience.arm_call_timeout_seconds
        got = _blocking_client(settings.redis_url(), longest).blpop(
            [reply_key(tenant, call_id)], wait
        )
        if got is None:
            raise ServiceUnavailable(
                f"the {arm} arm did not answer within {wait:.0f} s",
                details={"reason": "ARM_CALL_TIMEOUT", "arm": arm, "call_id": call_id},
            )
        reply = json.loads(got[1])
        log.info(
            "arm_call_answered",
            callee=arm,
            call_id=call_id,
            ok=reply.get("ok"),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        if reply.get("ok"):
            output: dict[str, Any] = reply.get("output") or {}
            return output
        raise _error(arm, reply.get("error") or {})


def _error(arm: str, error: dict[str, Any]) -> Exception:
    message = f"the {arm} arm failed: {error.get('message', 'no reason given')}"
    details = {"reason": "ARM_CALL_FAILED", "arm": arm, "error": error}
    if error.get("retryable"):
        return ServiceUnavailable(message, retry_after=error.get("retry_after"), details=details)
    return PermanentError(message, details=details)


def send_reply(rt: Runtime, tenant: str, call_id: str, body: dict[str, Any]) -> None:
    client = redis_client(rt.settings.redis_url())
    key = reply_key(tenant, call_id)
    pipe = client.pipeline(transaction=True)
    pipe.rpush(key, json.dumps(body, default=str))
    pipe.expire(key, REPLY_TTL_SECONDS)
    pipe.execute()


def error_reply(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": ErrorInfo.from_exception(exc).model_dump(mode="json")}
