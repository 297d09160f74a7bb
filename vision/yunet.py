"""YuNet face detector (OpenCV Zoo), run by cv2.FaceDetectorYN: boxes, 5 landmarks, score.

Shaped like OpenCV Zoo's `yunet.py`: `infer(bgr)` returns YuNet's raw rows and
`set_input_size()` sets the frame size. One instance per worker (OpenCV's network is not
safe to share between threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.models import YUNET, locate

Faces = npt.NDArray[np.float32]  # (N, 15): x, y, w, h, 5 x (x, y) landmarks, score
Landmarks = npt.NDArray[np.float32]  # (5, 2): right eye, left eye, nose, right/left mouth corner
# "right eye" is the subject's right eye, i.e. the one on the image's left.


@dataclass(frozen=True)
class Detection:
    """One face found by YuNet, in pixels of the frame it was found in."""

    x: float
    y: float
    w: float
    h: float
    landmarks: Landmarks
    score: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


class YuNet:
    """OpenCV Zoo's YuNet wrapper: `infer()` a BGR frame, get (N, 15) rows."""

    model_id = YUNET.model_id

    def __init__(
        self,
        model_path: Path | None = None,
        input_size: tuple[int, int] = (320, 320),
        conf_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
    ) -> None:
        self._input_size = input_size
        self._model = cv2.FaceDetectorYN.create(
            str(model_path if model_path is not None else locate(YUNET)),
            "",
            input_size,
            conf_threshold,
            nms_threshold,
            top_k,
        )

    @property
    def input_size(self) -> tuple[int, int]:
        return self._input_size

    def set_input_size(self, input_size: tuple[int, int]) -> None:
        """Frame size (width, height) the next `infer()` calls will receive."""
        self._model.setInputSize(input_size)
        self._input_size = input_size

    def infer(self, bgr: npt.NDArray[np.uint8]) -> Faces:
        """Faces in a BGR frame as YuNet's (N, 15) float32 rows, best score first.

        The input size follows the frame: a frame of another size resets it first."""
        size = (int(bgr.shape[1]), int(bgr.shape[0]))
        if size != self._input_size:
            self.set_input_size(size)
        _, faces = self._model.detect(bgr)
        if faces is None:
            return np.zeros((0, 15), dtype=np.float32)
        return np.asarray(faces, dtype=np.float32).reshape(-1, 15)


def detections(faces: Faces) -> list[Detection]:
    """YuNet rows as Detection objects, in the same order."""
    return [
        Detection(
            x=float(row[0]),
            y=float(row[1]),
            w=float(row[2]),
            h=float(row[3]),
            landmarks=np.asarray(row[4:14], dtype=np.float32).reshape(5, 2),
            score=float(row[14]),
        )
        for row in faces
    ]


def nearest_centre(faces: Faces, width: int, height: int) -> int | None:
    """Index of the face whose box centre is nearest the frame's centre, or None if none."""
    if len(faces) == 0:
        return None
    cx = faces[:, 0] + faces[:, 2] / 2
    cy = faces[:, 1] + faces[:, 3] / 2
    d2 = (cx - width / 2) ** 2 + (cy - height / 2) ** 2
    return int(np.argmin(d2))
