"""``/ui``: the live run dashboard, static files the browser runs against the JSON API.

The page holds no data and no secret: the browser asks for an API key once, keeps it in
``sessionStorage`` and sends it as ``X-API-Key`` on every call (the SSE stream is read with
``fetch``, so the key never goes into a URL). Served with a strict Content-Security-Policy:
scripts, styles and connections from this origin only, no inline code.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent.parent / "ui"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def ui_index() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=HEADERS)


def assets() -> StaticFiles:
    """The dashboard's scripts and styles, mounted at ``/ui/assets``."""
    return StaticFiles(directory=ASSETS / "assets")
