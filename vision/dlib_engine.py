"""dlib (face_recognition) behind the engine interface: HOG boxes, 5-point chip, ResNet encoding.

The alternative to SFace. Detection follows vision/dlibface.analyse (HOG on a copy
`detect_width` wide without upsampling, one retry at up to 640 px when nothing is found);
the chip and the encoding always use the full-resolution frame. HOG gives no landmarks for
the pose, so quality is size and sharpness only. dlib is neither thread-safe nor GIL-free:
one instance per process (vision/faceworker.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vision import dlibface
from vision.engine import SPECS, Embedding, EngineName, EngineSpec, Face, Frame
from vision.image import to_rgb
from vision.quality import Quality, of_box


class DlibEngine:
    """face_recognition's model; `name` picks the network's implementation (same numbers)."""

    def __init__(self, name: EngineName = EngineName.DLIB_NUMPY, *, detect_width: int = 480,
                 upsample: int = 0) -> None:
        if name not in (EngineName.DLIB, EngineName.DLIB_NUMPY):
            raise ValueError(f"{name} is not a dlib engine")
        self.spec: EngineSpec = SPECS[name]
        self.detect_width = detect_width
        self.upsample = upsample
        self._impl = dlibface.Engine.NUMPY if name is EngineName.DLIB_NUMPY else dlibface.Engine.DLIB
        if self._impl is dlibface.Engine.NUMPY:
            dlibface.numpy_net()  # load and self-check now, not on the first face

    def detect(self, bgr: Frame) -> list[Face]:
        """HOG boxes in full-frame pixels (no landmarks)."""
        boxes, _ = dlibface.detect_with_retry(to_rgb(bgr), detect_width=self.detect_width,
                                              upsample=self.upsample)
        return [Face(float(b.left), float(b.top), float(b.width), float(b.height), 1.0) for b in boxes]

    def align(self, bgr: Frame, face: Face) -> Frame:
        """dlib's 150x150 RGB chip (its own 5-point landmarks, padding 0.25)."""
        h, w = bgr.shape[:2]
        box = dlibface.Box(top=max(0, round(face.y)), right=min(w, round(face.x + face.w)),
                           bottom=min(h, round(face.y + face.h)), left=max(0, round(face.x)))
        return dlibface.chip(to_rgb(bgr), box)

    def embed(self, crop: Frame) -> dlibface.Encoding:
        """The 128-d float64 encoding of a chip."""
        return np.asarray(dlibface.describe(crop, engine=self._impl), dtype=np.float64)

    def embed_many(self, crops: Sequence[Frame]) -> list[Embedding]:
        """The encodings of several chips, one at a time (vision/encoder.py evaluates one chip;
        batching it is not done: dlib's model is not the default engine)."""
        return [self.embed(c) for c in crops]

    def quality(self, bgr: Frame, face: Face) -> Quality:
        """Size and sharpness (no pose without landmarks)."""
        return of_box(bgr, (face.x, face.y, face.w, face.h))
