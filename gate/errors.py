"""Gate errors.

GateError
 ├── SourceError           a camera / video / folder source cannot be opened
 └── Overloaded            every scan slot is taken (503 + Retry-After)

Image errors (bad uploads and frames) come from vision.errors.
"""

from __future__ import annotations


class GateError(Exception):
    """Base of every error raised by the gate package."""

    code = "gate_error"


class SourceError(GateError):
    """A frame source (camera, video file, folder, URL) cannot be opened or read."""

    code = "bad_source"


class Overloaded(GateError):
    """Every scan slot is taken: the client is told to retry (503), nothing is queued."""

    code = "busy"
