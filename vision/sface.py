"""SFace face recogniser (OpenCV Zoo): 5-point alignment to 112x112, 128-d embedding.

Shaped like OpenCV Zoo's `sface.py`: `infer(bgr, face)` aligns the face YuNet found and
returns its embedding. Embeddings are L2-normalised float32; compare them with `match()`,
the cosine similarity (higher = more alike).

The network runs in cv2.dnn, not cv2.FaceRecognizerSF: the block-quantised (int8bq) file
declares its weights as extra graph inputs, and OpenCV 5's FaceRecognizerSF.feature() feeds
its input without a name, which OpenCV refuses when a graph has more than one input. Naming
the input ("data") works, gives the same numbers under OpenCV's classic and new engines
(<= 4e-7 apart), and the new engine (the default) is about twice as fast. onnxruntime
1.32 refuses the file outright (it asks for the weights as inputs). One instance per worker.

The graph takes a batch: a blob of N crops (N, 3, 112, 112) gives (N, 128), each row within
3e-7 of that crop's embedding alone (40 LFW faces; `embed_aligned_many`). On one core it saves
little: 46.8 ms for three crops against 48.7 ms one by one, 32 against 32.5 ms for two.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from vision.models import SFACE, locate
from vision.yunet import Faces

Embedding = npt.NDArray[np.float32]  # (128,), unit length
Image = npt.NDArray[np.uint8]

EMBEDDING_SIZE = 128

# Cosine thresholds (a pair matches when its score is above) measured by
# `eventguard faces calibrate --set ../shared/data/faces-lfw` (the default engine):
# all 5,404 faces-lfw photos, face nearest the centre, 6,001 genuine and 14,592,905
# impostor pairs. At FMR 1e-3 the TAR is 98.78%; at 1e-4, 97.28%.
THRESHOLD_FMR_1E3 = 0.3596
THRESHOLD_FMR_1E4 = 0.4155
CROP_SIZE = 112
INPUT_NAME = "data"

# Where the five YuNet points go in the 112x112 crop (ArcFace's template, as in
# OpenCV's FaceRecognizerSF::alignCrop): right eye, left eye, nose, right/left mouth corner.
TEMPLATE: npt.NDArray[np.float64] = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def similarity_transform(
    src: npt.ArrayLike, dst: npt.ArrayLike = TEMPLATE
) -> npt.NDArray[np.float64]:
    """2x3 matrix of the least-squares similarity (rotation, uniform scale, shift) taking
    the points `src` onto `dst` (Umeyama 1991, the estimate alignCrop uses)."""
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s0, d0 = s - s_mean, d - d_mean
    cov = d0.T @ s0 / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(cov) < 0:
        sign[1] = -1.0
    rot = u @ np.diag(sign) @ vt
    var_s = (s0**2).sum() / len(s)
    scale = float((sig * sign).sum() / var_s) if var_s > 0 else 1.0
    m = np.empty((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = d_mean - scale * rot @ s_mean
    return m


def align(bgr: Image, landmarks: npt.ArrayLike) -> Image:
    """The 112x112 BGR crop with the five landmarks moved onto TEMPLATE."""
    m = similarity_transform(landmarks)
    crop = cv2.warpAffine(bgr, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR)
    return np.asarray(crop, dtype=np.uint8)


def landmarks_of(face: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The (5, 2) landmarks of one YuNet row (15 numbers)."""
    return np.asarray(face, dtype=np.float32).reshape(-1)[4:14].reshape(5, 2)


def match(a: Embedding, b: Embedding) -> float:
    """Cosine similarity of two embeddings (1 = same direction; higher = more alike)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


class SFace:
    """OpenCV Zoo's SFace wrapper: `infer(bgr, face)` -> unit 128-d embedding."""

    model_id = SFACE.model_id

    def __init__(self, model_path: Path | None = None) -> None:
        path = model_path if model_path is not None else locate(SFACE)
        self._net = cv2.dnn.readNetFromONNX(str(path))

    def infer(self, bgr: Image, face: npt.ArrayLike) -> Embedding:
        """Embedding of the face described by one YuNet row (or its 5x2 landmarks)."""
        points = np.asarray(face, dtype=np.float32).reshape(-1)
        lm = points[4:14] if points.size == 15 else points
        return self.embed_aligned(align(bgr, lm.reshape(5, 2)))

    def infer_all(self, bgr: Image, faces: Faces) -> npt.NDArray[np.float32]:
        """Embeddings (N, 128) of every YuNet row in `faces` (one forward pass)."""
        if not len(faces):
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        return self.embed_aligned_many([align(bgr, landmarks_of(row)) for row in faces])

    def embed_aligned(self, crop: Image) -> Embedding:
        """Embedding of an aligned 112x112 BGR crop."""
        blob = cv2.dnn.blobFromImage(
            crop, 1.0, (CROP_SIZE, CROP_SIZE), (0.0, 0.0, 0.0), swapRB=True, crop=False
        )
        return self._forward(blob)[0]

    def embed_aligned_many(self, crops: Sequence[Image]) -> npt.NDArray[np.float32]:
        """Embeddings (N, 128) of aligned 112x112 BGR crops, in one forward pass of a batch."""
        if not crops:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        blob = cv2.dnn.blobFromImages(
            list(crops), 1.0, (CROP_SIZE, CROP_SIZE), (0.0, 0.0, 0.0), swapRB=True, crop=False
        )
        return self._forward(blob)

    def _forward(self, blob: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        """The network on a blob of N crops: N unit-length rows."""
        n = blob.shape[0]
        self._net.setInput(blob, INPUT_NAME)
        raw = np.asarray(self._net.forward(), dtype=np.float32)
        if raw.size != n * EMBEDDING_SIZE:
            raise ValueError(f"SFace gave {raw.size} numbers for {n} crops, expected {n * EMBEDDING_SIZE}")
        out = raw.reshape(n, EMBEDDING_SIZE).copy()
        for row in out:  # each row normalised as a single embedding always was
            norm = float(np.linalg.norm(row))
            if norm > 0:
                row /= norm
        return out
