"""Turn untrusted bytes or files into BGR frames, with clear errors and hard limits."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.errors import EmptyImage, ImageTooLarge, NotAnImage

Frame = npt.NDArray[np.uint8]

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 25_000_000  # 25 MP: a 50 MP upload is refused before it is decoded


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG/JPEG header without decoding pixels, or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (seglen,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seglen
    return None


def decode_bytes(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Frame:
    """Decode image bytes to a BGR uint8 frame; raise an ImageError subclass on bad input."""
    if not data:
        raise EmptyImage("image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}")
    size = _declared_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLarge(
            f"image is {size[0]}x{size[1]} = {size[0] * size[1]} pixels; the limit is {max_pixels}"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if frame is None or frame.size == 0:
        raise NotAnImage("not a decodable image (unsupported format or truncated)")
    if frame.shape[0] * frame.shape[1] > max_pixels:
        raise ImageTooLarge(f"image has {frame.shape[0] * frame.shape[1]} pixels; the limit is {max_pixels}")
    return np.ascontiguousarray(frame, dtype=np.uint8)


def read_file(path: str | Path, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Frame:
    """Read and decode an image file to a BGR frame (see decode_bytes for the errors)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as err:
        raise NotAnImage(f"cannot read {p}: {err.strerror}") from err
    if size > max_bytes:
        raise ImageTooLarge(f"{p} is {size} bytes; the limit is {max_bytes}")
    return decode_bytes(p.read_bytes(), max_bytes=max_bytes, max_pixels=max_pixels)


def to_rgb(frame: Frame) -> Frame:
    """BGR (OpenCV) to RGB (dlib / face_recognition), contiguous."""
    return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def to_gray(frame: Frame) -> Frame:
    """BGR or already-gray frame to a single-channel gray frame."""
    if frame.ndim == 2:
        return frame
    return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
