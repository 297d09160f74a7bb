"""Errors of the vision package (images, face engines, indexes).

EventGuardError (eventguard.errors)
 └── VisionError
 ├── ImageError            an uploaded or captured image cannot be used
 │    ├── EmptyImage       0 bytes
 │    ├── ImageTooLarge    more bytes or pixels than the configured limit
 │    ├── UnsupportedImage an image format other than JPEG or PNG (GIF, BMP, WebP, TIFF, ...)
 │    └── NotAnImage       not a decodable JPEG/PNG (or truncated)
 └── ModelError            a packaged face model is missing or damaged
"""

from __future__ import annotations

from eventguard.errors import EventGuardError


class VisionError(EventGuardError):
    """Base of every error raised by the vision package."""

    code = "vision_error"


class ImageError(VisionError):
    """An image cannot be used; the message is safe to show to the client."""

    code = "bad_image"


class EmptyImage(ImageError):
    """The image has no bytes."""

    code = "empty_image"


class ImageTooLarge(ImageError):
    """The image exceeds the byte or pixel limit."""

    code = "image_too_large"


class UnsupportedImage(ImageError):
    """An image in a format that is not accepted (only JPEG and PNG are)."""

    code = "unsupported_image_format"


class NotAnImage(ImageError):
    """The bytes do not decode to an image (wrong format or truncated)."""

    code = "not_an_image"


class ModelError(VisionError):
    """A face model file cannot be found or read."""

    code = "bad_model"
