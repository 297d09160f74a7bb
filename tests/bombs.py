"""Decompression bombs and hostile image headers, built byte by byte (import as `bombs`).

Each is tiny and declares (or decodes to) far more pixels than any gate or upload may take.
"""

from __future__ import annotations

import functools
import struct
import zlib

import cv2
import numpy as np


def bmp_rle(w: int = 16_000, h: int = 16_000) -> bytes:
    """A 64-byte 8-bit RLE BMP whose only opcode is end-of-bitmap: OpenCV allocates w*h*3."""
    palette = b"\x00\x00\x00\x00" * 2
    pixels = b"\x00\x01"
    off = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 1, len(pixels), 2835, 2835, 2, 0)
    return b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off) + info + palette + pixels


def gif(w: int = 20_000, h: int = 20_000) -> bytes:
    """A ~40-byte GIF with a w x h screen and frame."""
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
            + b"," + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x44\x01\x00;")


def webp() -> bytes:
    """A 38-byte lossless WebP (VP8L) of 16383 x 16383 pixels of one colour (made with Pillow)."""
    return bytes.fromhex("524946461e000000574542505650384c110000002ffebfff0f07508a2ad4a3ff8188e87f0000")


def tiff(w: int = 8_000, h: int = 8_000) -> bytes:
    """A little-endian grey TIFF of one Deflate strip of zeros (~62 kB for 64 MP)."""
    strip = zlib.compress(bytes(w * h), 9)
    entries = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 8), (262, 3, 1),
               (273, 4, 0), (277, 3, 1), (278, 4, h), (279, 4, len(strip))]
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, typ, value in entries:
        value = data_at if tag == 273 else value
        ifd += struct.pack("<HHII", tag, typ, 1, value) if typ == 4 else struct.pack("<HHIHH", tag, typ, 1, value, 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + strip


def small_jpeg(w: int = 16, h: int = 16) -> bytes:
    """A real baseline JPEG."""
    ok, buf = cv2.imencode(".jpg", np.full((h, w, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def jpeg_fill_byte(w: int = 30_000, h: int = 30_000) -> bytes:
    """A real JPEG re-headed to w x h, with a legal 0xFF fill byte before its frame header
    (a header parser that does not skip fill bytes misses the size; libjpeg decodes it)."""
    data = bytearray(small_jpeg())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(data[:i] + b"\xff" + data[i:])


def png_zlib(w: int = 30_000, h: int = 30_000) -> bytes:
    """A PNG declaring w x h whose IDAT is a zlib bomb (4 MB of zero rows in ~4 kB)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(4 << 20), 9))
            + chunk(b"IEND", b""))


@functools.cache
def bombs() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the error code a gate or an upload answers)."""
    return {
        "bmp_rle": (bmp_rle(), "unsupported_image_format"),
        "gif": (gif(), "unsupported_image_format"),
        "webp": (webp(), "unsupported_image_format"),
        "tiff": (tiff(), "unsupported_image_format"),
        "jpeg_fill_byte": (jpeg_fill_byte(), "image_too_large"),
        "png_zlib": (png_zlib(), "image_too_large"),
    }
