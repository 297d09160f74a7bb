"""A hit's live capture: a small JPEG of the face within the caps, and the server's check."""

from __future__ import annotations

import cv2
import pytest
from support import shared

from eventguard.wire import MAX_CAPTURE_BYTES
from vision.capture import CAPTURE_SIDE, check_capture, crop_jpeg
from vision.engine import Face
from vision.errors import ImageError
from vision.image import read_file


def test_a_face_crop_is_a_small_jpeg_the_check_accepts() -> None:
    frame = read_file(shared("faces", "images") / "examples__obama-1080p.jpg")
    h, w = frame.shape[:2]
    data = crop_jpeg(frame, Face(x=w / 3, y=h / 4, w=w / 3, h=h / 2, score=0.9))
    assert data is not None and len(data) <= MAX_CAPTURE_BYTES
    cw, ch = check_capture(data)
    assert max(cw, ch) == CAPTURE_SIDE  # scaled down to the cap
    assert crop_jpeg(frame, Face(x=w + 100, y=0, w=50, h=50, score=0.9)) is None  # outside the frame
    assert crop_jpeg(frame, Face(x=0, y=0, w=w / 2, h=h / 2, score=0.9), max_bytes=100) is None  # cannot fit


@pytest.mark.parametrize("kind", ["png", "too_wide", "too_long", "garbage"])
def test_the_check_refuses_what_is_not_a_small_jpeg(kind: str) -> None:
    frame = read_file(shared("faces", "images") / "examples__obama.jpg")
    data = {
        "png": lambda: bytes(cv2.imencode(".png", frame[:64, :64])[1]),
        "too_wide": lambda: bytes(cv2.imencode(".jpg", frame[:64, :CAPTURE_SIDE + 1])[1]),
        "too_long": lambda: b"\xff\xd8\xff" + b"\0" * MAX_CAPTURE_BYTES,
        "garbage": lambda: b"\xff\xd8\xff\xd9",
    }[kind]()
    with pytest.raises(ImageError):
        check_capture(data)
