"""Camera errors.

EventGuardError
└── CameraError
    ├── CalibrationError   the image/venue points do not fix a usable homography
    ├── SourceError        the frame source cannot be opened or read
    └── UplinkRefused      the server refuses this camera for good (token, camera id, event);
                           also an eventguard.errors.UplinkRefused
"""

from __future__ import annotations

from eventguard import errors as base
from eventguard.errors import ConfigError, EventGuardError


class CameraError(EventGuardError):
    """Base of camera errors."""


class CalibrationError(CameraError, ConfigError):
    """The calibration points are unusable (a configuration mistake)."""


class SourceError(CameraError):
    """A frame source failed."""


class UplinkRefused(CameraError, base.UplinkRefused):
    """The server refuses this camera for good: retrying cannot help."""
