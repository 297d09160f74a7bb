"""EventGuard shared errors.

EventGuardError
 ├── ConfigError        a venue or settings file is invalid (message names the field)
 ├── WireError          a wire message cannot be decoded or has an unknown type
 ├── TicketFormatError  a ticket payload is not a well-formed EventGuard ticket
 ├── TicketingError     a ticket cannot be issued as asked (no signing key, unknown holder, ...)
 ├── DatabaseError      the database is unreachable or a migration failed
 └── UplinkRefused      the command server will never take this uplink as configured (token
                        refused or another's, wrong path, other event); gate.errors and
                        camera.errors each derive their own
"""

from __future__ import annotations


class EventGuardError(Exception):
    """Base of every EventGuard error."""


class ConfigError(EventGuardError):
    """A configuration value is missing or invalid."""


class WireError(EventGuardError):
    """A wire message is malformed, too large or of an unknown type; `field` names the
    offending field ("events[3].lane") when one is to blame."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TicketFormatError(EventGuardError):
    """A ticket payload cannot be parsed."""


class TicketingError(EventGuardError, LookupError):
    """A ticket cannot be issued as asked: no (matching) signing key, a holder that is not a
    registration of the event, entrances outside the holder's registered ones."""


class DatabaseError(EventGuardError):
    """The database cannot be reached or migrated."""


class UplinkRefused(EventGuardError):
    """The command server refused an uplink for a reason retrying cannot fix; the message says
    what to change."""
