"""Live events: SSE at ``/api/v1/tasks/{id}/events`` (and ``/stream/tasks/{id}``), and the
WebSocket at ``/ws/{client_id}``."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Header, Path, Query, WebSocket
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from octollm.api import eventstream, limits, metrics, queries
from octollm.api.auth import require, resolve
from octollm.api.routes.documented import errors
from octollm.api.state import ApiState, get_state
from octollm.api.tenancy import TenantParam, task_tenant
from octollm.api.websocket import ClientSession, origin_refusal
from octollm.errors import OctoError
from octollm.security.apikeys import Principal, Scope

router = APIRouter(tags=["streams"])
log = structlog.get_logger(__name__)

POLICY_VIOLATION = 1008
AUTH_WAIT_SECONDS = 10.0

_SSE_DOC = {
    200: {
        "description": "text/event-stream: `id` is the stream id to resume from, `event` the "
        "event type, `data` the event as JSON; a final `end` frame carries the status.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **errors(404),
}


async def _sse(
    state: ApiState, tenant: str, task_id: str, last_event_id: str | None
) -> StreamingResponse:
    last = eventstream.check_stream_id(last_event_id)
    await run_in_threadpool(queries.require_task, state.db, tenant, task_id)
    metrics.STREAMS_OPEN.labels("sse").inc()

    async def status() -> str:
        return await run_in_threadpool(queries.require_task, state.db, tenant, task_id)

    body = eventstream.sse(
        state.aredis,
        tenant,
        task_id,
        last,
        task_status=status,
        keepalive_seconds=state.config.sse_keepalive_seconds,
        max_seconds=state.config.sse_max_seconds,
    )
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


TaskId = Annotated[str, Path(min_length=1, max_length=64)]
LastEventHeader = Annotated[
    str | None, Header(alias="Last-Event-ID", max_length=64, description="Resume after this id.")
]
LastEventQuery = Annotated[
    str | None,
    Query(
        alias="last_event_id",
        max_length=64,
        description="Same as Last-Event-ID, for clients that cannot set headers.",
    ),
]
Reader = Annotated[Principal, Depends(require(Scope.TASK_READ))]
State = Annotated[ApiState, Depends(get_state)]


@router.get(
    "/api/v1/tasks/{task_id}/events",
    response_class=StreamingResponse,
    responses=_SSE_DOC,
    summary="Stream a task's events (SSE) until it finishes",
)
async def task_events(
    task_id: TaskId,
    state: State,
    principal: Reader,
    last_event_id: LastEventHeader = None,
    last_event_id_query: LastEventQuery = None,
    tenant: TenantParam = None,
) -> StreamingResponse:
    owner = task_tenant(state, principal, tenant)
    return await _sse(state, owner, task_id, last_event_id or last_event_id_query)


@router.get(
    "/stream/tasks/{task_id}",
    response_class=StreamingResponse,
    responses=_SSE_DOC,
    summary="Stream a task's events (SSE); alias of /api/v1/tasks/{task_id}/events",
)
async def stream_task(
    task_id: TaskId,
    state: State,
    principal: Reader,
    last_event_id: LastEventHeader = None,
    last_event_id_query: LastEventQuery = None,
    tenant: TenantParam = None,
) -> StreamingResponse:
    owner = task_tenant(state, principal, tenant)
    return await _sse(state, owner, task_id, last_event_id or last_event_id_query)


def _handshake_key(ws: WebSocket) -> str | None:
    key = ws.query_params.get("api_key") or ws.headers.get("x-api-key")
    auth = ws.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key or None


async def _authenticate(ws: WebSocket, state: ApiState) -> Principal | None:
    key = _handshake_key(ws)
    if key is None:
        with contextlib.suppress(asyncio.TimeoutError, ValueError, KeyError):
            first = await asyncio.wait_for(ws.receive_json(), AUTH_WAIT_SECONDS)
            if isinstance(first, dict) and first.get("type") == "auth":
                key = str(first.get("api_key") or "")
    try:
        principal = await resolve(state, key)
        if not principal.allows(Scope.TASK_READ):
            return None
        await run_in_threadpool(limits.charge, ws, state.limiter, state.config, principal, "read")
    except OctoError as exc:
        await ws.send_json({"type": "error", "code": exc.code, "message": exc.message})
        return None
    return principal


@router.websocket("/ws/{client_id}")
async def websocket(
    ws: WebSocket,
    client_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")],
) -> None:
    state: ApiState = ws.app.state.octollm
    await ws.accept()
    refusal = origin_refusal(
        ws.headers.get("origin"), ws.headers.get("host"), state.config.ws_allowed_origins
    )
    if refusal is not None:
        log.warning("ws_origin_refused", origin=ws.headers.get("origin", "")[:200])
        await ws.close(POLICY_VIOLATION, refusal[:120])
        return
    principal = await _authenticate(ws, state)
    if principal is None:
        await ws.close(POLICY_VIOLATION, "authentication failed")
        return
    structlog.contextvars.bind_contextvars(ws_client=client_id)
    metrics.STREAMS_OPEN.labels("websocket").inc()
    await ws.send_json({"type": "welcome", "client_id": client_id, "tenant": principal.tenant})
    try:
        await ClientSession(ws, state, principal).run()
    except WebSocketDisconnect:
        return
    except Exception:
        log.exception("ws_session_failed")
        with contextlib.suppress(Exception):
            await ws.close(1011)
