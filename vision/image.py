"""Turn untrusted bytes or files into BGR frames, with clear errors and hard limits.

Only JPEG and PNG are accepted, told by their magic bytes: OpenCV decodes many more formats
(BMP with RLE, GIF, WebP, TIFF, ...) where a few dozen bytes expand to gigabytes. The
dimensions are read from the header (PNG's IHDR; JPEG's frame header, found by walking the
markers, fill bytes included) and an image over the pixel limit is refused before anything
is decoded. OpenCV's own cap (set in vision/__init__) is the second line.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision import MAX_PIXELS
from vision.errors import EmptyImage, ImageTooLarge, NotAnImage, UnsupportedImage

Frame = npt.NDArray[np.uint8]

MAX_BYTES = 10 * 1024 * 1024
__all__ = ["MAX_BYTES", "MAX_PIXELS", "Frame", "decode_bytes", "image_size", "read_file", "to_gray", "to_rgb"]

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
# formats OpenCV would decode but we refuse, by their magic bytes (for a clear error)
_OTHERS: tuple[tuple[bytes, int, str], ...] = (
    (b"GIF87a", 0, "GIF"), (b"GIF89a", 0, "GIF"), (b"BM", 0, "BMP"), (b"WEBP", 8, "WebP"),
    (b"II*\x00", 0, "TIFF"), (b"MM\x00*", 0, "TIFF"), (b"II+\x00", 0, "BigTIFF"), (b"MM\x00+", 0, "BigTIFF"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"), (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"#?RADIANCE", 0, "Radiance HDR"), (b"#?RGBE", 0, "Radiance HDR"), (b"\x59\xa6\x6a\x95", 0, "Sun raster"),
    (b"ftypavif", 4, "AVIF"), (b"ftypheic", 4, "HEIF"), (b"v/1\x01", 0, "OpenEXR"),
    (b"PF", 0, "PFM"), (b"Pf", 0, "PFM"), (b"P1", 0, "PNM"), (b"P2", 0, "PNM"), (b"P3", 0, "PNM"),
    (b"P4", 0, "PNM"), (b"P5", 0, "PNM"), (b"P6", 0, "PNM"), (b"P7", 0, "PAM"),
)
# JPEG start-of-frame markers (every SOFn except DHT 0xC4, JPG 0xC8 and DAC 0xCC)
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _png_size(data: bytes) -> tuple[int, int]:
    # the signature, then IHDR as the first chunk: length 13, "IHDR", width, height
    if len(data) < 24 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        raise NotAnImage("PNG without a header chunk (IHDR) first")
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk the markers after SOI to the first frame header (SOFn) and read its size."""
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            raise NotAnImage(f"JPEG marker expected at byte {i}")
        while i < n and data[i] == 0xFF:  # any number of 0xFF fill bytes may precede a marker
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length
            continue
        if marker in (0x00, 0xD9, 0xDA):  # stuffing, EOI or scan data before any frame header
            raise NotAnImage("JPEG without a frame header before its image data")
        if i + 2 > n:
            break
        (seglen,) = struct.unpack(">H", data[i:i + 2])
        if seglen < 2:
            raise NotAnImage(f"JPEG segment of length {seglen} at byte {i}")
        if marker in _SOF:
            if i + 7 > n:
                break
            h, w = struct.unpack(">HH", data[i + 3:i + 7])
            return int(w), int(h)
        i += seglen
    raise NotAnImage("JPEG truncated before its frame header")


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG from its header, decoding no pixels; NotAnImage or
    UnsupportedImage for anything else."""
    if data.startswith(_PNG):
        w, h = _png_size(data)
    elif data.startswith(_JPEG):
        w, h = _jpeg_size(data)
    else:
        for magic, offset, name in _OTHERS:
            if data[offset:offset + len(magic)] == magic:
                raise UnsupportedImage(f"{name} images are not accepted; send JPEG or PNG")
        raise NotAnImage("not a JPEG or PNG image")
    if w <= 0 or h <= 0:
        raise NotAnImage(f"image declares {w}x{h} pixels")
    return w, h


def decode_bytes(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Frame:
    """Decode JPEG/PNG bytes to a BGR uint8 frame; raise an ImageError subclass on bad input."""
    if not data:
        raise EmptyImage("image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}")
    w, h = image_size(data)
    if w * h > max_pixels:
        raise ImageTooLarge(f"image is {w}x{h} = {w * h} pixels; the limit is {max_pixels}")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as err:  # OpenCV's own pixel cap (and other refusals) raise
        raise NotAnImage(f"OpenCV refused the image: {str(err).strip().splitlines()[-1][:200]}") from None
    if frame is None or frame.size == 0:
        raise NotAnImage("not a decodable image (truncated or damaged)")
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
