"""Gate errors.

GateError
 ├── ImageError            an uploaded or captured image cannot be used
 │    ├── EmptyImage       0 bytes
 │    ├── ImageTooLarge    more bytes or pixels than the configured limit
 │    └── NotAnImage       not a decodable JPEG/PNG/... (or truncated)
 └── SourceError           a camera / video / folder source cannot be opened
"""

from __future__ import annotations


class GateError(Exception):
    """Base of every error raised by the gate package."""

    code = "gate_error"


class ImageError(GateError):
    """An image cannot be used; the message is safe to show to the client."""

    code = "bad_image"


class EmptyImage(ImageError):
    """The image has no bytes."""

    code = "empty_image"


class ImageTooLarge(ImageError):
    """The image exceeds the byte or pixel limit."""

    code = "image_too_large"


class NotAnImage(ImageError):
    """The bytes do not decode to an image (wrong format or truncated)."""

    code = "not_an_image"


class SourceError(GateError):
    """A frame source (camera, video file, folder, URL) cannot be opened or read."""

    code = "bad_source"
