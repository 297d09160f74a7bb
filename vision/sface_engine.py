"""The default face engine: YuNet finds faces and five landmarks, SFace embeds the aligned crop.

Detection runs on a copy at most `max_side` pixels on its longer side and the boxes and
landmarks are scaled back; alignment and the embedding always use the full-resolution frame.
Enrolment photos and calibration detect at up to 640 px (LFW's 250 px photos at full
resolution: the calibrated pipeline). Lane frames detect at 320 px: ~6 ms instead of ~25 ms
for a 640x480 frame on one loaded core here, and no worse: 150 LFW people's photos (737
genuine, 118,579 impostor pairs) pasted into 640x480 frames gave FNMR 0.68% / FMR 1.3e-3 at
the FMR-1e-3 threshold when detected at 320 px, 0.54% / 1.3e-3 at 640 px, 0.54% / 1.2e-3 as
the 250 px originals (one genuine pair apart). Re-detecting the face at full resolution
before aligning changed nothing measurable, so it is not done.

One instance per process or thread: OpenCV's networks are not safe to share.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vision.engine import SPECS, Embedding, EngineName, EngineSpec, Face, Frame
from vision.quality import Quality, of_box
from vision.sface import Embedding as SFaceEmbedding
from vision.sface import SFace, align
from vision.yunet import YuNet

DETECT_MAX_SIDE = 640  # enrolment photos and calibration
LANE_MAX_SIDE = 320  # lane frames (see the module docstring)
CONF_THRESHOLD = 0.6


class SFaceEngine:
    """YuNet + 5-point alignment to the 112x112 ArcFace template + SFace (cosine)."""

    def __init__(self, *, max_side: int = DETECT_MAX_SIDE, conf_threshold: float = CONF_THRESHOLD) -> None:
        self.spec: EngineSpec = SPECS[EngineName.SFACE]
        self.max_side = max_side
        self.conf_threshold = conf_threshold
        self.detector = YuNet(conf_threshold=conf_threshold)
        self.recogniser = SFace()

    def detect(self, bgr: Frame) -> list[Face]:
        """Faces (boxes and YuNet's five landmarks, full-frame pixels), best score first."""
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = bgr if scale == 1.0 else np.asarray(cv2.resize(
            bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA), dtype=np.uint8)
        rows = self.detector.infer(small)
        if scale != 1.0 and len(rows):
            rows[:, :14] /= scale
        return [Face(float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[14]),
                     np.asarray(r[4:14], dtype=np.float32).reshape(5, 2)) for r in rows]

    def align(self, bgr: Frame, face: Face) -> Frame:
        """The 112x112 crop with the five landmarks on the ArcFace template."""
        if face.landmarks is None:
            raise ValueError("SFace needs YuNet's five landmarks to align a face")
        return align(bgr, face.landmarks)

    def embed(self, crop: Frame) -> SFaceEmbedding:
        """Unit-length 128-d float32 embedding of an aligned crop."""
        return self.recogniser.embed_aligned(crop)

    def embed_many(self, crops: Sequence[Frame]) -> list[Embedding]:
        """The embeddings of several aligned crops, in one forward pass of a batch."""
        return list(self.recogniser.embed_aligned_many(crops))

    def quality(self, bgr: Frame, face: Face) -> Quality:
        """Size, sharpness and pose (from the five landmarks)."""
        return of_box(bgr, (face.x, face.y, face.w, face.h), face.landmarks)
