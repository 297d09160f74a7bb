"""Command server errors (each carries an HTTP status and a stable code).

EventGuardError (eventguard.errors)
 └── CommandError                base of errors raised by the command server
      ├── AuthError              no, wrong or expired credentials (401)
      │    └── Forbidden         authenticated, but role or scope does not allow it (403)
      ├── StoreUnavailable       the database is not reachable; nothing is acknowledged (503)
      ├── Busy                   too much work in flight; try again after retry_after_s (503)
      ├── ValueRefused           the database will not take a value it was given (422)
      ├── NotFound               a referenced row does not exist (404)
      ├── ModelMismatch          a hit made by another face model than its entry's (422, final)
      ├── Conflict               the action does not fit the current state (409)
      ├── PhotoSealError         a sealed enrolment photo does not open (wrong key, other row, damaged)
      ├── FaceSealError          a sealed face embedding does not open (wrong key, other row or model, damaged)
      ├── FeedRefused            the command server refused a live replica's feed secret (final)
      └── AlertError             an operator action on an alert cannot be applied (409)
           ├── UnknownAlert          no open alert has this id (404)
           └── AlertAlreadyResolved  the alert was resolved or auto-cleared already (409)
"""

from __future__ import annotations

from eventguard.errors import EventGuardError


class CommandError(EventGuardError):
    """Base of command server errors."""

    status = 500
    code = "internal"
    retry_after_s: int | None = None  # sent as Retry-After when set


class AuthError(CommandError):
    """Authentication failed."""

    status = 401
    code = "unauthorized"


class Forbidden(AuthError):
    """The authenticated caller's role or scope does not allow the action."""

    status = 403
    code = "forbidden"


class StoreUnavailable(CommandError):
    """The database cannot be reached; the caller must not acknowledge."""

    status = 503
    code = "store_unavailable"


class Busy(CommandError):
    """Too much work of this kind is in flight; the client should retry later."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ValueRefused(CommandError):
    """The database refused a value (out of its range, a constraint); the request is not retried."""

    status = 422
    code = "value_refused"


class NotFound(CommandError):
    """The referenced row does not exist."""

    status = 404
    code = "not_found"


class ModelMismatch(CommandError):
    """A gate's hit was made by another face model than the watchlist entry's (issue 13): never
    stored as a hit; final, so the gate may forget it."""

    status = 422
    code = "model_mismatch"


class Conflict(CommandError):
    """The action conflicts with the current state."""

    status = 409
    code = "conflict"


class PhotoSealError(CommandError):
    """A sealed enrolment photo cannot be opened with this key for this row."""

    code = "photo_seal"


class FaceSealError(CommandError):
    """A face embedding sealed in the database cannot be opened with this key for this row and model."""

    code = "face_seal"


class FeedRefused(CommandError):
    """The command server refused a live replica's feed secret: retrying cannot help."""

    status = 401
    code = "feed_refused"


class AlertError(CommandError):
    """An alert action cannot be applied."""

    status = 409
    code = "alert_error"


class UnknownAlert(AlertError):
    """No open alert has this id."""

    status = 404
    code = "unknown_alert"


class AlertAlreadyResolved(AlertError):
    """The alert is no longer open: resolved by an operator or cleared automatically."""

    code = "alert_already_resolved"


class TwinUnavailable(CommandError):
    """The server runs without a twin model, or the twin has not forecast yet (issue 19)."""

    status = 503
    code = "twin_unavailable"
