"""The WebSocket Origin check: programs (no Origin) and the API's own origin pass; a foreign
browser origin is refused unless allowlisted."""

from __future__ import annotations

import pytest

from octollm.api.websocket import origin_refusal


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "api.example.com", ()),
        ("https://api.example.com", "api.example.com", ()),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", ()),
        ("HTTPS://API.example.com:443", "api.example.com", ()),
        ("https://app.example.com", "api.example.com", ("https://app.example.com",)),
        ("https://anything.example", "api.example.com", ("*",)),
    ],
)
def test_programs_the_same_origin_and_allowlisted_origins_pass(
    origin: str | None, host: str, allowed: tuple[str, ...]
) -> None:
    assert origin_refusal(origin, host, allowed) is None


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://evil.example", "api.example.com"),
        ("http://127.0.0.1:8001", "127.0.0.1:8000"),
        ("http://api.example.com.evil.example", "api.example.com"),
        ("null", "api.example.com"),
        ("file://", "api.example.com"),
        ("http://[::1", "api.example.com"),
        ("https://evil.example", ""),
    ],
)
def test_a_foreign_browser_origin_is_refused(origin: str, host: str) -> None:
    assert origin_refusal(origin, host, ("https://app.example.com",)) is not None
