"""What a gate shows a steward of a ticket holder: the registered photo, small, for the list sync.

Enrolment photos are kept only sealed (command/photo_seal.py). At sync time the server opens a
holder's photo and sends a small JPEG of it (at most `MAX_SIDE` px on its longer side and
`MAX_BYTES` bytes) with the holder's face, name and ID-number hash, to the gates that may admit
that holder only (command/sync_store.py). The gate keeps it sealed under its own key
(gate/listcache.py). A photo that does not open or decode is not sent (logged): the steward then
sees "Registered photo not on this gate" and checks an ID document.

Blocking (AES-GCM, JPEG decode and encode): call from a thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

import cv2

from command import photo_seal
from command.errors import PhotoSealError
from vision.errors import ImageError
from vision.image import decode_bytes

log = logging.getLogger(__name__)

MAX_SIDE = 240  # px: enough for a steward to compare with the camera crop (160 px wide)
MAX_BYTES = 24_000  # per photo on the wire and on a gate's disk
_QUALITIES = (80, 65, 50, 35)


def thumbnail(photo: bytes, *, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> bytes:
    """A JPEG of the photo at most `max_side` px and `max_bytes` bytes; b"" if it cannot be made
    (ImageError for what is not a JPEG or PNG, or too large to decode)."""
    frame = decode_bytes(photo)
    h, w = frame.shape[:2]
    side = max_side
    while side >= 48:
        scale = min(1.0, side / max(h, w))
        small = frame if scale >= 1.0 else cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                       interpolation=cv2.INTER_AREA)
        for q in _QUALITIES:
            ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, q])
            if ok and len(jpg) <= max_bytes:
                return bytes(jpg.tobytes())
        side //= 2
    return b""


def registered_photo(key: bytes, registration_id: str, sealed: bytes) -> bytes:
    """The small JPEG of a registration's sealed photo; b"" when it does not open or decode."""
    try:
        return thumbnail(photo_seal.unseal(key, sealed, photo_seal.registration_owner(registration_id)))
    except (PhotoSealError, ImageError) as err:
        log.warning("registration %s: registered photo not sent to gates (%s)", registration_id, err)
        return b""


class PhotoCache:
    """Small registered photos shared by every gate's sync (a full sync of 10,000 holders would
    otherwise open and shrink 10,000 photos per gate, ~20 ms each): keyed by the registration and
    a digest of its sealed photo (a re-enrolment seals a new one), least recently used dropped
    beyond `max_bytes`. Thread-safe; call it from a thread (command/sync_store.py does)."""

    def __init__(self, key_file: photo_seal.KeyFile, max_bytes: int = 64 << 20) -> None:
        self.key_file = key_file
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self._lock = threading.Lock()
        self._photos: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()

    def __call__(self, registration_id: str, sealed: bytes) -> bytes:
        """The small JPEG of a registration's sealed photo (b"" when it does not open)."""
        key = (registration_id, hashlib.sha256(sealed).digest()[:16])
        with self._lock:
            found = self._photos.get(key)
            if found is not None:
                self._photos.move_to_end(key)
                self.hits += 1
                return found
        photo = registered_photo(self.key_file.get(), registration_id, sealed)
        with self._lock:
            if key not in self._photos:
                self._photos[key] = photo
                self.size += len(photo)
            while self.size > self.max_bytes and self._photos:
                _, old = self._photos.popitem(last=False)
                self.size -= len(old)
        return photo
