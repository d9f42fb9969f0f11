"""Authentication and authorisation as FastAPI dependencies.

A key arrives as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>`` (WebSockets may also
use ``?api_key=``). It resolves to a ``Principal`` (key id, tenant, scopes); ``require(scope)``
checks the scope and charges the rate limit. Every route below works inside
``principal.tenant``: another tenant's resources are simply not found.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from octollm.api import limits
from octollm.api.state import ApiState, get_state
from octollm.errors import Forbidden, Unauthorized
from octollm.security import apikeys
from octollm.security.apikeys import Principal

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An octollm API key."
)
_bearer = HTTPBearer(auto_error=False, description="An octollm API key as a bearer token.")


def key_from(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    if api_key:
        return api_key
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    return None


async def resolve(state: ApiState, key: str | None) -> Principal:
    """The principal for ``key``; ``Unauthorized`` when missing, malformed, unknown or revoked."""
    if not key:
        raise Unauthorized("an API key is required (X-API-Key or Authorization: Bearer)")
    principal = await run_in_threadpool(apikeys.authenticate, state.db, key)
    if principal is None:
        raise Unauthorized("the API key is invalid or revoked")
    structlog.contextvars.bind_contextvars(tenant=principal.tenant, key_id=principal.key_id)
    return principal


async def authenticated(
    state: Annotated[ApiState, Depends(get_state)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return await resolve(state, key_from(api_key, bearer))


def require(scope: str, rate: limits.Kind | None = "read") -> Callable[..., Awaitable[Principal]]:
    """A dependency: an authenticated principal holding ``scope``, charged one ``rate`` token."""

    async def dependency(
        request: Request,
        state: Annotated[ApiState, Depends(get_state)],
        principal: Annotated[Principal, Depends(authenticated)],
    ) -> Principal:
        if not principal.allows(scope):
            raise Forbidden(
                f"this API key lacks the {scope!r} scope", details={"required_scope": scope}
            )
        if rate is not None:
            await run_in_threadpool(
                limits.charge, request, state.limiter, state.config, principal, rate
            )
        return principal

    return dependency
