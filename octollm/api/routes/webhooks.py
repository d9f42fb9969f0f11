"""``/api/v1/webhooks``: a tenant's webhook endpoints and their deliveries (``webhook:manage``).

Registration runs the SSRF guard before anything is stored (a refused target is a 422
``WEBHOOK_TARGET_REFUSED``); a secret the caller does not send is generated and shown once
(registration and ``rotate-secret``, which signs with the old and the new secret during an
overlap, as Standard Webhooks allows).
Secrets are never returned afterwards. Another tenant's endpoint or delivery is a 404.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from octollm.api.auth import require
from octollm.api.routes.documented import errors
from octollm.api.state import ApiState, get_state
from octollm.orchestrator.capability import webhook_messages
from octollm.security.apikeys import Principal, Scope
from octollm.webhooks import registry
from octollm.webhooks.signing import new_secret

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

State = Annotated[ApiState, Depends(get_state)]
Manager = Annotated[Principal, Depends(require(Scope.WEBHOOK_MANAGE))]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]
EndpointId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryStatus = Literal["pending", "sending", "retrying", "succeeded", "dead"]

_EVENT_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))+)$"
_URL_PATTERN = r"^https?://[^\s\x00-\x1f\x7f]+$"


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2048,
        pattern=_URL_PATTERN,
        description="http(s) URL; its host must resolve to public addresses only.",
    )
    event_types: list[Annotated[str, Field(max_length=128, pattern=_EVENT_PATTERN)]] = Field(
        min_length=1,
        max_length=64,
        description="Event types to receive: 'task.completed', a family 'task.*', or '*'.",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="Signing secret as Standard Webhooks defines it: whsec_ and 24 to 64 "
        "bytes in base64. Omit it to have one generated (returned once).",
    )
    description: str = Field(default="", max_length=500)


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="The new whsec_ secret; omit it to have one generated (returned once).",
    )
    overlap_seconds: float = Field(
        default=86_400.0,
        ge=0,
        le=7 * 86_400,
        description="How long deliveries carry a signature with the old secret too.",
    )


class SecretRotated(BaseModel):
    endpoint_id: str
    old_secret_signs_until: datetime
    secret: str | None = Field(
        default=None, description="The generated secret, only when the request sent none."
    )


class EndpointView(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime


class EndpointCreated(EndpointView):
    secret: str | None = Field(
        default=None,
        description="The generated signing secret, only when the request sent none. "
        "Shown once; store it now.",
    )


class EndpointList(BaseModel):
    endpoints: list[EndpointView]


class DeliveryView(BaseModel):
    id: int
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    max_attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    dead_reason: str | None = None
    redeliveries: int
    created_at: datetime
    delivered_at: datetime | None = None


class DeliveryList(BaseModel):
    items: list[DeliveryView]


class AttemptView(BaseModel):
    attempt: int
    outcome: str
    status_code: int | None = None
    duration_ms: float
    error: str | None = None
    retry_in_seconds: float | None = None
    started_at: datetime


class AttemptList(BaseModel):
    delivery_id: int
    attempts: list[AttemptView]


def _endpoint(endpoint: registry.Endpoint) -> EndpointView:
    return EndpointView(**{k: v for k, v in asdict(endpoint).items() if k != "tenant"})


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    responses=errors(),
    summary="Register a webhook endpoint (SSRF-checked)",
)
def register_endpoint(body: EndpointCreate, state: State, principal: Manager) -> EndpointCreated:
    secret = body.secret or new_secret()
    endpoint = registry.register(
        state.db,
        principal.tenant,
        body.url,
        body.event_types,
        secret,
        description=body.description,
        settings=state.settings,
    )
    shown = None if body.secret else secret
    return EndpointCreated(**_endpoint(endpoint).model_dump(), secret=shown)


@router.get("", response_model=EndpointList, responses=errors(), summary="List webhook endpoints")
def list_endpoints(state: State, principal: Manager) -> EndpointList:
    return EndpointList(
        endpoints=[_endpoint(e) for e in registry.list_endpoints(state.db, principal.tenant)]
    )


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    response_class=Response,
    responses=errors(404),
    summary="Deactivate a webhook endpoint (no new deliveries)",
)
def deactivate_endpoint(endpoint_id: EndpointId, state: State, principal: Manager) -> Response:
    registry.deactivate(state.db, principal.tenant, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    responses=errors(404),
    summary="Give an endpoint a new signing secret; old and new both sign during the overlap",
)
def rotate_secret(
    endpoint_id: EndpointId, body: SecretRotation, state: State, principal: Manager
) -> SecretRotated:
    secret = body.secret or new_secret()
    until = registry.rotate_secret(
        state.db,
        principal.tenant,
        endpoint_id,
        secret,
        overlap_seconds=body.overlap_seconds,
        settings=state.settings,
    )
    return SecretRotated(
        endpoint_id=endpoint_id,
        old_secret_signs_until=until,
        secret=None if body.secret else secret,
    )


@router.get(
    "/deliveries",
    response_model=DeliveryList,
    responses=errors(),
    summary="List deliveries, newest first",
)
def list_deliveries(
    state: State,
    principal: Manager,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    event_type: Annotated[str | None, Query(max_length=128)] = None,
    event_id: Annotated[str | None, Query(max_length=128)] = None,
    endpoint_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    found = registry.deliveries(
        state.db,
        principal.tenant,
        endpoint_id=endpoint_id,
        status=status,
        event_id=event_id,
        event_type=event_type,
        limit=limit,
    )
    return DeliveryList(items=[DeliveryView(**asdict(d)) for d in found])


@router.get(
    "/deliveries/{delivery_id}/attempts",
    response_model=AttemptList,
    responses=errors(404),
    summary="Every attempt of a delivery (status, duration, response code)",
)
def list_attempts(delivery_id: DeliveryId, state: State, principal: Manager) -> AttemptList:
    found = registry.attempts(state.db, principal.tenant, delivery_id)
    return AttemptList(delivery_id=delivery_id, attempts=[AttemptView(**asdict(a)) for a in found])


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryView,
    responses=errors(404, 409),
    summary="Send a dead (or delivered) delivery again, with a fresh attempt budget",
)
def redeliver(delivery_id: DeliveryId, state: State, principal: Manager) -> DeliveryView:
    delivery = webhook_messages.redeliver(
        state.db, principal.tenant, delivery_id, app=state.runtime.app, settings=state.settings
    )
    return DeliveryView(**asdict(delivery))
