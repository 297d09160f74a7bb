"""Decode QR codes in camera frames and uploaded images with a cascade of decoders.

Cascade (each step runs only when every earlier step accepted nothing):

1. ``zbar``    pyzbar / zbar on the gray frame, raw bytes (zbar's binary mode): the common
               path (about 10 ms at 640x480).
2. ``zxing``   zxing-cpp on the gray frame (about 1 ms): reads codes zbar misses and the
               non-UTF-8 texts (Shift_JIS, Big5) whose bytes zbar cannot attribute.
3. ``opencv``  OpenCV ``QRCodeDetector`` (multi) on the gray frame.
4. ``prep:*``  preprocessed copies of the gray frame (blur, half size, double size, Otsu,
               white border), each tried with zxing-cpp and zbar.

The first step that accepts at least one reading ends the cascade; its readings are returned
in reading order (top to bottom, then left to right, by code centre). ``thorough=False``
stops after step 2, for live streams where the next frame is a few tens of ms away.

pyzbar goes first as the product asks; zxing-cpp alone would be ~10x faster (0.8 ms against
10 ms at 640x480), which is noise next to the ~110 ms face check, so the order is kept.

Reliability policy (a misread is worse than a miss):

* Every decoder checks Reed-Solomon, so wrong *bits* are rare; wrong *text* mostly comes from
  guessing the character set. Ranking: zxing-cpp (honours ECI, best charset guess) > zbar
  (raw bytes) > OpenCV (text decoded by its own guess).
* Steps 1-3 read the unaltered frame; a later step is asked only when every earlier one
  accepted nothing, so two decoders never compete for the same frame.
* zbar bytes are accepted when they are ASCII or valid UTF-8; other bytes (Shift_JIS, Big5,
  Latin-1, binary) are *ambiguous*: dropped rather than guessed. OpenCV text is accepted only
  when it is ASCII. zxing-cpp text is accepted as is.
* Step 4 works on altered pixels, so one decoder is not enough there: a payload is accepted
  only when zxing-cpp and zbar read the *same bytes* (on any of the copies tried so far); its
  text then comes from zxing-cpp, which also settles the charset of a zbar read.
* :class:`Scan` counts ambiguous or unconfirmed payloads so callers can log "seen, not read".

Payloads are returned exactly as encoded (CRLF is kept). Nothing here raises on odd pixel
content: an unusable array (wrong dtype, no pixels, odd channel count) gives no codes, and a
decoder that fails is treated as finding nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from ctypes import c_void_p, string_at
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zxingcpp
from pyzbar import wrapper as zbar

from vision.image import Frame, read_file

log = logging.getLogger(__name__)

_ZBAR_QRCODE = 64  # zbar_symbol_type_t ZBAR_QRCODE
_ZBAR_CFG_ENABLE = 0
_ZBAR_CFG_BINARY = 4  # zbar >= 0.23: keep payload bytes, skip zbar's charset guessing
_ZBAR_Y800 = 0x30303859  # fourcc "Y800": 8-bit gray

_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

_SMALL_SIDE = 400  # frames whose longer side is below this are also tried at double size
_LARGE_SIDE = 320  # frames whose shorter side is at least this are also tried at half size


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded code: its text, which decoder and step read it, and its centre (x, y)."""

    text: str
    decoder: str
    step: str
    center: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Scan:
    """One frame's readings, the step that accepted them, and payloads seen but not accepted."""

    readings: tuple[Reading, ...]
    step: str | None
    ambiguous: int

    @property
    def texts(self) -> list[str]:
        """Distinct texts in reading order."""
        return [r.text for r in self.readings]


@dataclass(frozen=True, slots=True)
class _Hit:
    """A raw decoder result before the text policy; centre in the decoded image."""

    decoder: str
    text: str | None  # text as the decoder produced it (None for zbar: bytes only)
    raw: bytes | None  # payload bytes before charset conversion (None for OpenCV)
    center: tuple[float, float]


@dataclass(frozen=True, slots=True)
class _Variant:
    """A preprocessed copy of the gray frame and how to map its coordinates back."""

    name: str
    image: Frame
    scale: float = 1.0
    offset: float = 0.0


Decoder = Callable[[Frame], list[_Hit]]


def _zxing(gray: Frame) -> list[_Hit]:
    """zxing-cpp, QR only, plain text (no HRI escapes); honours ECI, guesses charsets well."""
    barcodes = zxingcpp.read_barcodes(gray, formats=_QR_ONLY, text_mode=zxingcpp.TextMode.Plain)
    hits: list[_Hit] = []
    for b in barcodes:
        p = b.position
        corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        cx = sum(c.x for c in corners) / 4
        cy = sum(c.y for c in corners) / 4
        hits.append(_Hit("zxing", b.text, bytes(b.bytes), (cx, cy)))
    return hits


def _zbar(gray: Frame) -> list[_Hit]:
    """zbar through pyzbar's ctypes binding, QR only, raw payload bytes (binary mode)."""
    buf = np.ascontiguousarray(gray)  # must stay alive while zbar reads it
    height, width = buf.shape[:2]
    scanner: Any = zbar.zbar_image_scanner_create()
    try:
        zbar.zbar_image_scanner_set_config(scanner, 0, _ZBAR_CFG_ENABLE, 0)
        zbar.zbar_image_scanner_set_config(scanner, _ZBAR_QRCODE, _ZBAR_CFG_ENABLE, 1)
        zbar.zbar_image_scanner_set_config(scanner, _ZBAR_QRCODE, _ZBAR_CFG_BINARY, 1)
        image: Any = zbar.zbar_image_create()
        try:
            zbar.zbar_image_set_format(image, _ZBAR_Y800)
            zbar.zbar_image_set_size(image, width, height)
            zbar.zbar_image_set_data(image, buf.ctypes.data_as(c_void_p), buf.nbytes, None)
            if zbar.zbar_scan_image(scanner, image) <= 0:
                return []
            hits: list[_Hit] = []
            symbol = zbar.zbar_image_first_symbol(image)
            while symbol:
                data = string_at(
                    zbar.zbar_symbol_get_data(symbol), zbar.zbar_symbol_get_data_length(symbol)
                )
                n = zbar.zbar_symbol_get_loc_size(symbol)
                xs = [zbar.zbar_symbol_get_loc_x(symbol, i) for i in range(n)] or [0]
                ys = [zbar.zbar_symbol_get_loc_y(symbol, i) for i in range(n)] or [0]
                hits.append(_Hit("zbar", None, data, (sum(xs) / len(xs), sum(ys) / len(ys))))
                symbol = zbar.zbar_symbol_next(symbol)
            return hits
        finally:
            zbar.zbar_image_destroy(image)
    finally:
        zbar.zbar_image_scanner_destroy(scanner)


def _opencv(gray: Frame) -> list[_Hit]:
    """OpenCV QRCodeDetector (multi); text only, checked as ASCII by the policy."""
    ok, texts, points, _ = cv2.QRCodeDetector().detectAndDecodeMulti(gray)
    if not ok or points is None:
        return []
    hits: list[_Hit] = []
    for text, quad in zip(texts, points, strict=False):
        if text:
            centre = np.asarray(quad, dtype=np.float64).reshape(-1, 2).mean(axis=0)
            hits.append(_Hit("opencv", str(text), None, (float(centre[0]), float(centre[1]))))
    return hits


_DIRECT_STEPS: tuple[tuple[str, Decoder], ...] = (
    ("zbar", _zbar),
    ("zxing", _zxing),
    ("opencv", _opencv),
)
_CHEAP_STEPS = 2  # thorough=False: zbar and zxing-cpp on the plain frame only
_PREP_DECODERS: tuple[Decoder, ...] = (_zxing, _zbar)  # most reliable first
_RANK = {"zxing": 0, "zbar": 1, "opencv": 2}


def text_of(decoder: str, text: str | None, raw: bytes | None) -> str | None:
    """The charset policy for one reading: the text to accept, or None if ambiguous.

    zxing-cpp text is taken as is; zbar bytes must be ASCII or valid UTF-8; OpenCV text must
    be ASCII. Empty payloads are never accepted.
    """
    if decoder == "zxing":
        return text or None
    if text is None:
        if not raw:
            return None
        try:
            return raw.decode("utf-8")  # ASCII is valid UTF-8
        except UnicodeDecodeError:
            return None
    return text if text and text.isascii() else None


def _u8(image: Any) -> Frame:
    """An OpenCV result as a contiguous uint8 frame."""
    return np.ascontiguousarray(image, dtype=np.uint8)


def _variants(gray: Frame) -> Iterable[_Variant]:
    """Preprocessed copies, most useful first; made lazily so a hit stops the work."""
    h, w = gray.shape[:2]
    yield _Variant("blur", _u8(cv2.GaussianBlur(gray, (5, 5), 0)))
    if min(h, w) >= _LARGE_SIDE:
        half = cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        yield _Variant("half", _u8(half), 0.5)
    if max(h, w) < _SMALL_SIDE:
        double = cv2.resize(gray, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
        yield _Variant("double", _u8(double), 2.0)
    _, otsu = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    yield _Variant("otsu", _u8(otsu))
    pad = max(8, min(h, w) // 10)
    border = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    yield _Variant("border", _u8(border), offset=float(pad))


def _run(decoder: Decoder, image: Frame) -> list[_Hit]:
    """Run one decoder; a failure inside a third-party decoder counts as finding nothing."""
    try:
        return decoder(image)
    except Exception as err:  # C libraries raise odd things (cv2.error, UnicodeDecodeError)
        log.debug("qr: decoder %s failed: %r", decoder.__name__, err)
        return []


def _reading(hit: _Hit, text: str, step: str, variant: _Variant | None = None) -> Reading:
    """A reading with its centre mapped back to frame coordinates."""
    x, y = hit.center
    if variant is not None:
        x = (x - variant.offset) / variant.scale
        y = (y - variant.offset) / variant.scale
    return Reading(text, hit.decoder, step, (x, y))


def _ordered(readings: Iterable[Reading]) -> tuple[Reading, ...]:
    """Distinct texts (first reading wins), in reading order by centre, ties by text."""
    seen: dict[str, Reading] = {}
    for r in readings:
        seen.setdefault(r.text, r)
    return tuple(sorted(seen.values(), key=lambda r: (r.center[1], r.center[0], r.text)))


def confirmed(hits: Sequence[tuple[_Hit, _Variant]]) -> list[Reading]:
    """Readings of payloads whose bytes at least two different decoders agree on.

    The text comes from the most reliable decoder that read it (zxing-cpp before zbar), so a
    zbar read of Shift_JIS bytes confirmed by zxing-cpp gets zxing-cpp's charset.
    """
    votes: dict[bytes, dict[str, tuple[_Hit, _Variant]]] = {}
    for hit, variant in hits:
        if hit.raw:
            votes.setdefault(hit.raw, {}).setdefault(hit.decoder, (hit, variant))
    readings: list[Reading] = []
    for by_decoder in votes.values():
        if len(by_decoder) < 2:
            continue
        for name in sorted(by_decoder, key=lambda d: _RANK.get(d, len(_RANK))):
            hit, variant = by_decoder[name]
            text = text_of(hit.decoder, hit.text, hit.raw)
            if text is not None:
                readings.append(_reading(hit, text, f"prep:{variant.name}", variant))
                break
    return readings


def gray_of(frame: Any) -> Frame | None:
    """A contiguous single-channel uint8 copy of a BGR/BGRA/gray frame, or None if unusable."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.size == 0:
        return None
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        return None
    code = cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
    return _u8(cv2.cvtColor(np.ascontiguousarray(frame), code))


def scan(frame: Frame, *, thorough: bool = True) -> Scan:
    """Run the cascade on one frame; report the readings, the winning step and ambiguities."""
    gray = gray_of(frame)
    if gray is None:
        log.warning("qr: unusable frame %r", getattr(frame, "shape", type(frame)))
        return Scan((), None, 0)
    ambiguous = 0
    for step, decoder in _DIRECT_STEPS if thorough else _DIRECT_STEPS[:_CHEAP_STEPS]:
        readings: list[Reading] = []
        for hit in _run(decoder, gray):
            text = text_of(hit.decoder, hit.text, hit.raw)
            if text is None:
                ambiguous += 1
            else:
                readings.append(_reading(hit, text, step))
        if readings:
            return Scan(_ordered(readings), step, ambiguous)
    if not thorough:
        return Scan((), None, ambiguous)
    seen: list[tuple[_Hit, _Variant]] = []
    for variant in _variants(gray):
        for decoder in _PREP_DECODERS:
            seen += [(hit, variant) for hit in _run(decoder, variant.image)]
        readings = confirmed(seen)
        if readings:
            return Scan(_ordered(readings), f"prep:{variant.name}", ambiguous)
    return Scan((), None, ambiguous + len({hit.raw for hit, _ in seen}))


def decode(frame: Frame, *, thorough: bool = True) -> list[str]:
    """Distinct QR texts in a frame (BGR or gray uint8), in reading order; [] if none."""
    return scan(frame, thorough=thorough).texts


def decode_file(path: str | Path, *, thorough: bool = True) -> list[str]:
    """Distinct QR texts in an image file; raises an ImageError subclass on a bad file."""
    return decode(read_file(path), thorough=thorough)
