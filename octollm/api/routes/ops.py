"""Liveness, readiness and Prometheus metrics (unauthenticated, for load balancers and
scrapers)."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from octollm.api.schemas import CheckView, Health, ReadyView
from octollm.api.state import ApiState, get_state

router = APIRouter(tags=["ops"])


def _version() -> str:
    try:
        return version("octollm")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
def health(state: Annotated[ApiState, Depends(get_state)]) -> Health:
    return Health(
        status="ok",
        version=_version(),
        uptime_seconds=round(time.monotonic() - state.started_at, 3),
    )


@router.get(
    "/ready",
    response_model=ReadyView,
    responses={503: {"model": ReadyView, "description": "Not ready; checks say why"}},
    summary="Readiness: database, broker, and a consuming worker for every arm pool",
)
def ready(state: Annotated[ApiState, Depends(get_state)]) -> JSONResponse:
    verdict = state.readiness.verdict()
    body = ReadyView(
        ready=verdict.ready,
        checks={
            name: CheckView(ok=c.ok, detail=c.detail, data=c.data)
            for name, c in verdict.checks.items()
        },
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if verdict.ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
def metrics(state: Annotated[ApiState, Depends(get_state)]) -> Response:
    return Response(generate_latest(state.metrics), media_type=CONTENT_TYPE_LATEST)
