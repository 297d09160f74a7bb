"""Lane camera frames made from real photos: a face crop beside a rendered QR ticket.

Used by `eventguard bench gate`, the simulator's drive mode and the tests, so every one of them
feeds the gate the same kind of frame a lane camera produces.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import segno

from eventguard.settings import REPO_ROOT
from vision.engine import Choose, analyse
from vision.faceworker import EngineOptions, engine
from vision.image import Frame, decode_bytes, read_file

FACES_DIR = REPO_ROOT.parent / "shared" / "data" / "faces" / "images"
# (scanned photo, person, another photo of that person for the watchlist or None)
PEOPLE = (
    ("examples__obama.jpg", "barack_obama", "examples__obama2.jpg"),
    ("tests__obama3.jpg", "barack_obama", "examples__obama2.jpg"),
    ("examples__biden.jpg", "joe_biden", "knn__train__biden__biden2.jpg"),
    ("examples__alex-lacamoire.png", "alex_lacamoire", "knn__train__alex_lacamoire__img1.jpg"),
    ("examples__lin-manuel-miranda.png", "lin_manuel_miranda", None),
)


@dataclass(frozen=True, slots=True)
class Person:
    """A face crop ready to paste into frames and the holder embedding registered for it."""

    holder_ref: str
    crop: Frame  # BGR, face box scaled to `face_px`
    face_px: int
    encoding: npt.NDArray[np.float64]  # the engine's embedding of the full-resolution photo
    model_id: str = ""


def embed_photo(photo: Path, opts: EngineOptions | None = None) -> npt.NDArray[np.float64] | None:
    """The embedding of the largest face of a photo (this thread's engine), or None."""
    res = analyse(engine(opts or EngineOptions()), read_file(photo), min_face_px=1, bar=None)
    return None if res.embedding is None else np.asarray(res.embedding, dtype=np.float64)


def qr_image(text: str, *, scale: int = 3) -> Frame:
    """A QR code rendered with segno (ECC M, 4-module border) as a BGR frame."""
    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    return decode_bytes(buf.getvalue())


def compose(face: Frame, code: Frame, *, width: int = 640, height: int = 480) -> Frame:
    """A lane camera frame: grey background, the face on the left, the QR code on the right."""
    out = np.full((height, width, 3), 150, np.uint8)
    fh, fw = face.shape[:2]
    fh, fw = min(fh, height), min(fw, width // 2)
    y, x = (height - fh) // 2, max(0, width // 4 - fw // 2)
    out[y:y + fh, x:x + fw] = face[:fh, :fw]
    qh, qw = code.shape[:2]
    y, x = (height - qh) // 2, width - qw - 20
    out[y:y + qh, x:x + qw] = code
    return out


def load_person(photo: Path, *, face_px: int = 130, opts: EngineOptions | None = None) -> Person:
    """Crop the largest face of a photo with margin, scaled so the engine's box is ~face_px
    wide; the registered embedding is the engine's, of the full-resolution photo."""
    eng = engine(opts or EngineOptions())
    bgr = read_file(photo)
    res = analyse(eng, bgr, min_face_px=1, bar=None, choose=Choose.LARGEST)
    if res.face is None or res.embedding is None:
        raise ValueError(f"no face in {photo}")
    f = res.face
    top, left, bottom, right = round(f.y), round(f.x), round(f.y + f.h), round(f.x + f.w)
    s = face_px / f.w
    m = int(f.w * 0.6)  # margin: hair, chin, some background
    h, w = bgr.shape[:2]
    crop = bgr[max(0, top - m):min(h, bottom + m), max(0, left - m):min(w, right + m)]
    small = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    return Person(uuid.uuid4().hex, np.ascontiguousarray(small[:440, :300], dtype=np.uint8), face_px,
                  np.asarray(res.embedding, dtype=np.float64), eng.spec.model_id)
