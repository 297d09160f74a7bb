"""What browsers may do with our pages: the security headers every response carries and the
same-origin rule for requests that change state. Pure; the gate and command apps apply them
(on_response_prepare and a middleware)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

CSP = ("default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def needs_origin_check(method: str, upgrade: str | None) -> bool:
    """State-changing methods, and websocket upgrades (a GET a page of any site may open)."""
    return method.upper() not in SAFE_METHODS or (upgrade or "").lower() == "websocket"


def same_origin(origin: str | None, *, scheme: str, host: str | None, allowed: Collection[str] = ()) -> bool:
    """May a request with this Origin header change state here? No Origin: not a browser (gates,
    tools; browsers send it on every POST and websocket). Otherwise it must be this server's own
    origin (scheme://host as the browser addressed it) or one of `allowed`; "null" never is."""
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if origin == "null" or not host:
        return False
    return origin == f"{scheme}://{host}".lower() or origin in {a.lower().rstrip("/") for a in allowed}
