"""The error responses routes declare in the OpenAPI document (all in the problem shape)."""

from __future__ import annotations

from typing import Any

from octollm.api.schemas import Problem

_DESCRIPTIONS = {
    401: "Missing, malformed or revoked API key",
    403: "The API key lacks the required scope",
    404: "Not found (or not this tenant's)",
    409: "Conflict with the resource's state",
    422: "Invalid request; details name the field",
    429: "Rate limited; see Retry-After",
    503: "A dependency (database, broker, Redis) is unavailable; retry later",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the common auth, validation and availability errors plus
    ``codes``."""
    wanted = sorted({401, 403, 422, 429, 503, *codes})
    return {c: {"model": Problem, "description": _DESCRIPTIONS[c]} for c in wanted}
