"""The same-origin rule and the security headers, pure."""

from __future__ import annotations

import pytest

from eventguard.browser import SECURITY_HEADERS, needs_origin_check, same_origin


@pytest.mark.parametrize(("origin", "allowed", "ok"), [
    (None, (), True),  # not a browser
    ("http://127.0.0.1:8080", (), True),
    ("HTTP://127.0.0.1:8080/", (), True),
    ("http://127.0.0.1:8081", (), False),  # another port is another origin
    ("https://127.0.0.1:8080", (), False),
    ("http://evil.example", (), False),
    ("null", (), False),  # sandboxed frames, file:// pages
    ("https://ops.example", ("https://ops.example",), True),
])
def test_same_origin(origin: str | None, allowed: tuple[str, ...], ok: bool) -> None:
    assert same_origin(origin, scheme="http", host="127.0.0.1:8080", allowed=allowed) is ok


@pytest.mark.parametrize(("method", "upgrade", "checked"), [
    ("GET", None, False), ("HEAD", None, False), ("POST", None, True), ("DELETE", None, True),
    ("GET", "websocket", True), ("GET", "WebSocket", True),
])
def test_what_is_checked(method: str, upgrade: str | None, checked: bool) -> None:
    assert needs_origin_check(method, upgrade) is checked


def test_headers_forbid_framing_sniffing_and_referrers() -> None:
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"
