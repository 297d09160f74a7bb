"""Gate errors.

EventGuardError (eventguard.errors)
 └── GateError
      ├── SourceError      a camera / video / folder source cannot be opened
      ├── Overloaded       every scan slot is taken (503 + Retry-After)
      └── UplinkRefused    the command server will never take this gate as configured
                           (token refused or of another gate, wrong path, other event);
                           also an eventguard.errors.UplinkRefused

Image errors (bad uploads and frames) come from vision.errors.
"""

from __future__ import annotations

from eventguard import errors as base
from eventguard.errors import EventGuardError


class GateError(EventGuardError):
    """Base of every error raised by the gate package."""

    code = "gate_error"


class SourceError(GateError):
    """A frame source (camera, video file, folder, URL) cannot be opened or read."""

    code = "bad_source"


class UplinkRefused(GateError, base.UplinkRefused):
    """The command server refused the gate for a reason retrying cannot fix; the message says
    what to change."""

    code = "uplink_refused"
class Overloaded(GateError):
    """Every scan slot is taken: the client is told to retry (503), nothing is queued."""

    code = "busy"
