"""Untrusted image bytes: only JPEG and PNG, sized from their headers, refused over the pixel
limit before anything is decoded; the decompression bombs of the probe get a clear code."""

from __future__ import annotations

import struct
import subprocess
import sys

import bombs
import pytest
from support import shared

from vision.errors import EmptyImage, ImageTooLarge, NotAnImage, UnsupportedImage
from vision.image import MAX_PIXELS, decode_bytes, image_size


@pytest.mark.parametrize("name", ["bmp_rle", "gif", "webp", "tiff", "jpeg_fill_byte", "png_zlib"])
def test_bombs_are_refused_before_decoding_with_a_code(name: str) -> None:
    data, code = bombs.bombs()[name]
    with pytest.raises((UnsupportedImage, ImageTooLarge)) as err:
        decode_bytes(data)
    assert err.value.code == code


def test_jpeg_size_skips_fill_bytes_and_segments() -> None:
    assert image_size(bombs.jpeg_fill_byte(30_000, 30_000)) == (30_000, 30_000)
    real = shared("faces", "images", "examples__obama.jpg").read_bytes()  # APPn, DQT, DHT before SOF
    frame = decode_bytes(real)
    assert image_size(real) == (frame.shape[1], frame.shape[0])
    # a legal JPEG with fill bytes before its frame header still decodes
    small = bombs.jpeg_fill_byte(24, 16)
    assert image_size(small) == (24, 16) and decode_bytes(small).shape == (16, 24, 3)


@pytest.mark.parametrize(("data", "error"), [
    (b"", EmptyImage),
    (b"\xff\xd8\xff", NotAnImage),  # SOI and nothing else
    (b"\xff\xd8\xff\xda\x00\x08" + b"\x00" * 20, NotAnImage),  # scan data before any frame header
    (b"\xff\xd8\xff\xe0\x00\x01", NotAnImage),  # a segment length below 2
    (b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10\x03", NotAnImage),  # height 0 (defined later by DNL)
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIDAT" + b"\x00" * 20, NotAnImage),  # IHDR not first
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 0, 10), NotAnImage),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" + struct.pack(">II", 6000, 5000), ImageTooLarge),
    (b"P6\n30000 30000\n255\n", UnsupportedImage),
    (b"hello", NotAnImage),
])
def test_malformed_headers(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_bytes(data)


def test_opencv_pixel_cap_is_set_in_gate_and_server_processes() -> None:
    """OpenCV reads its own cap once, when cv2 loads: importing the gate app or the command app
    first must have set it, so even a direct cv2.imdecode refuses an over-limit PNG header."""
    code = (
        "import {mod}, cv2, numpy as np, struct, zlib\n"
        "def chunk(k, b): return struct.pack('>I', len(b)) + k + b + struct.pack('>I', zlib.crc32(k + b))\n"
        "png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 6000, 5000, 8, 2, 0, 0, 0))"
        " + chunk(b'IDAT', zlib.compress(bytes(100))) + chunk(b'IEND', b'')\n"
        "try:\n"
        "    cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)\n"
        "    print('decoded')\n"
        "except cv2.error as e:\n"
        "    print('refused' if 'MAX_IMAGE_PIXELS' in str(e) else e)\n")
    assert 6000 * 5000 > MAX_PIXELS
    for mod in ("gate.app", "command.app"):
        r = subprocess.run([sys.executable, "-c", code.format(mod=mod)], capture_output=True, text=True,
                           timeout=120, env={"PATH": "/usr/bin:/bin"})
        assert r.stdout.strip() == "refused", (mod, r.stdout, r.stderr[-2000:])
