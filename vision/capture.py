"""The live capture sent with a screening hit: a small JPEG crop of the face, and its check.

A reviewer compares it with the watchlist photo, so it is the face with some margin, at most
`CAPTURE_SIDE` pixels on its longer side and `MAX_CAPTURE_BYTES` long (the quality is lowered
until it fits). The server accepts only a JPEG whose header says it is within those bounds
(`check_capture`, no pixels decoded) — a gate's token does not make its bytes trustworthy.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy.typing as npt

from eventguard.wire import MAX_CAPTURE_BYTES
from vision.engine import Face
from vision.errors import ImageError, NotAnImage
from vision.image import Frame, image_size

CAPTURE_SIDE = 192  # pixels, the longer side of the crop
_QUALITIES = (85, 70, 55, 40)


def crop_jpeg(frame: Frame, face: Face, *, side: int = CAPTURE_SIDE, max_bytes: int = MAX_CAPTURE_BYTES
              ) -> bytes | None:
    """The face of `frame` with a 40% margin, scaled to fit `side`, as JPEG of at most
    `max_bytes`; None when the box lies outside the frame or no quality fits (CPU work: call it
    off the event loop)."""
    h, w = frame.shape[:2]
    m = 0.4 * max(face.w, face.h)
    x0, y0 = max(0, int(face.x - m)), max(0, int(face.y - m))
    x1, y1 = min(w, int(face.x + face.w + m)), min(h, int(face.y + face.h + m))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop: npt.NDArray[Any] = frame[y0:y1, x0:x1]
    scale = min(1.0, side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    for q in _QUALITIES:
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok and len(buf) <= max_bytes:
            return bytes(buf)
    return None


def check_capture(data: bytes, *, side: int = CAPTURE_SIDE, max_bytes: int = MAX_CAPTURE_BYTES) -> tuple[int, int]:
    """(width, height) of a capture that is a JPEG within the bounds; ImageError otherwise."""
    if len(data) > max_bytes:
        raise NotAnImage(f"capture is {len(data)} bytes; the limit is {max_bytes}")
    if not data.startswith(b"\xff\xd8\xff"):
        raise NotAnImage("a capture must be a JPEG")
    w, h = image_size(data)
    if w > side or h > side:
        raise NotAnImage(f"capture is {w}x{h} pixels; the limit is {side} on each side")
    return w, h


__all__ = ["CAPTURE_SIDE", "MAX_CAPTURE_BYTES", "ImageError", "check_capture", "crop_jpeg"]
