"""Renders of presentation attacks from real photos, for liveness tests and measurement.

A flat print or screen held in front of a lane camera: the photo is a plane in 3-D, turned by
yaw and pitch about its centre, at a distance, seen through a pinhole camera — one
homography (cv2.warpPerspective) into a 640x480 frame — then camera noise and JPEG. A still
repeated is the same frame sent again. Pure image maths; `rng` is a parameter.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vision.engine import Frame

WIDTH, HEIGHT = 640, 480
FOCAL = 700.0  # px: a ~49 degree horizontal field of view at 640 px


def print_homography(w: int, h: int, *, yaw_deg: float, pitch_deg: float, width_px: float,
                     shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The homography taking a w x h photo onto the frame as a flat print turned by yaw and
    pitch, appearing `width_px` wide when facing the camera, its centre shifted by `shift` px."""
    depth = FOCAL * w / width_px  # in photo pixels: the print's width maps to width_px at this depth
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    out = []
    for x, y in corners:
        p = rx @ ry @ np.array([x - w / 2, y - h / 2, 0.0]) + np.array([0.0, 0.0, depth])
        out.append((FOCAL * p[0] / p[2] + WIDTH / 2 + shift[0], FOCAL * p[1] / p[2] + HEIGHT / 2 + shift[1]))
    dst = np.asarray(out, dtype=np.float32)
    return np.asarray(cv2.getPerspectiveTransform(corners.astype(np.float32), dst), dtype=np.float64)


def camera(frame: Frame, rng: np.random.Generator, *, noise: float = 2.0, quality: int = 85) -> Frame:
    """What a camera adds: Gaussian sensor noise (grey levels, sd) and JPEG compression."""
    noisy = frame.astype(np.float32) + rng.normal(0.0, noise, frame.shape).astype(np.float32) if noise else frame
    img = np.clip(noisy, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)


def flat_print(photo: Frame, rng: np.random.Generator, *, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
               width_px: float = 300.0, shift: tuple[float, float] = (0.0, 0.0), noise: float = 2.0,
               quality: int = 85, background: int = 120) -> Frame:
    """One camera frame of `photo` as a flat print or screen (see module docstring)."""
    h, w = photo.shape[:2]
    hom = print_homography(w, h, yaw_deg=yaw_deg, pitch_deg=pitch_deg, width_px=width_px, shift=shift)
    scene = cv2.warpPerspective(photo, hom, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(background,) * 3)
    return camera(np.asarray(scene, dtype=np.uint8), rng, noise=noise, quality=quality)
