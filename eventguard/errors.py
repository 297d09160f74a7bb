"""EventGuard shared errors.

EventGuardError
 ├── ConfigError        a venue or settings file is invalid (message names the field)
 ├── WireError          a wire message cannot be decoded or has an unknown type
 ├── TicketFormatError  a ticket payload is not a well-formed EventGuard ticket
 └── DatabaseError      the database is unreachable or a migration failed
"""

from __future__ import annotations


class EventGuardError(Exception):
    """Base of every EventGuard error."""


class ConfigError(EventGuardError):
    """A configuration value is missing or invalid."""


class WireError(EventGuardError):
    """A wire message is malformed, too large or of an unknown type."""


class TicketFormatError(EventGuardError):
    """A ticket payload cannot be parsed."""


class DatabaseError(EventGuardError):
    """The database cannot be reached or migrated."""
