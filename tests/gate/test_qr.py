"""Tests for gate.qr: ZXing black-box sets at four rotations, policy, odd frames, bad files."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
import segno

from gate import qr
from vision.errors import EmptyImage, ImageError, NotAnImage
from vision.image import Frame, read_file

DATA = Path(__file__).parents[2] / ".." / "shared" / "data"
QR_DIR = DATA / "qr"
needs_data = pytest.mark.skipif(
    not QR_DIR.is_dir(), reason=f"ZXing black-box images not found at {QR_DIR.resolve()}"
)

ROTATIONS = {
    0: None,
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}

# ZXing's own thresholds (shared/README.md): images that must decode exactly, per rotation.
THRESHOLDS = {
    "qrcode-1": {0: 17, 90: 14, 180: 17, 270: 14},
    "qrcode-2": {0: 32, 90: 30, 180: 31, 270: 31},
    "qrcode-3": {0: 38, 90: 39, 180: 36, 270: 39},
    "qrcode-5": {0: 19, 90: 19, 180: 19, 270: 19},
}
IMAGE_COUNTS = {"qrcode-1": 20, "qrcode-2": 35, "qrcode-3": 42, "qrcode-5": 19}


def lf(text: str) -> str:
    """Normalise line endings: several payloads use CRLF, the .txt files store LF."""
    return text.replace("\r\n", "\n")


def rotate(frame: Frame, degrees: int) -> Frame:
    """The frame rotated clockwise by a multiple of 90 degrees."""
    code = ROTATIONS[degrees]
    return frame if code is None else np.ascontiguousarray(cv2.rotate(frame, code))


@cache
def ascii_flags() -> dict[str, bool]:
    """manifest.csv: image path -> whether its expected text is ASCII."""
    with (QR_DIR / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return {row["image"]: row["expected_is_ascii"] == "True" for row in csv.DictReader(f)}


@cache
def positive_set(name: str) -> tuple[tuple[str, Frame, str, bool], ...]:
    """(image name, frame, expected text LF-normalised, expected is ASCII) for one set."""
    flags = ascii_flags()
    items = []
    for png in sorted((QR_DIR / name).glob("*.png")):
        frame = read_file(png)
        expected = lf(png.with_suffix(".txt").read_text(encoding="utf-8"))
        items.append((png.name, frame, expected, flags[f"{name}/{png.name}"]))
    return tuple(items)


@cache
def negative_set() -> tuple[tuple[str, Frame], ...]:
    """The falsepositives-2 images: no barcode in any of them."""
    pngs = sorted((QR_DIR / "falsepositives-2").glob("*.png"))
    return tuple((p.name, read_file(p)) for p in pngs)


def qr_image(text: str, *, module: int = 8, border: int = 4) -> Frame:
    """A clean gray image of one QR code (black on white) made with segno."""
    matrix = np.array(segno.make_qr(text, error="m").matrix, dtype=np.uint8)
    img = np.where(matrix == 1, 0, 255).astype(np.uint8)
    img = np.pad(img, border, constant_values=255)
    return np.ascontiguousarray(np.kron(img, np.ones((module, module), dtype=np.uint8)))


def on_canvas(codes: list[tuple[Frame, int, int]], size: tuple[int, int] = (480, 640)) -> Frame:
    """A BGR frame of the given (height, width) with gray code images pasted at (x, y)."""
    canvas = np.full(size, 200, dtype=np.uint8)
    for img, x, y in codes:
        canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
    return np.ascontiguousarray(cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR))


# --- ZXing black-box sets ---------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("degrees", list(ROTATIONS))
@pytest.mark.parametrize("set_name", list(THRESHOLDS))
def test_blackbox_set_meets_zxing_threshold_without_misreads(set_name: str, degrees: int) -> None:
    items = positive_set(set_name)
    assert len(items) == IMAGE_COUNTS[set_name]
    correct: list[str] = []
    misreads: list[tuple[str, list[str]]] = []
    for name, frame, expected, is_ascii in items:
        texts = [lf(t) for t in qr.decode(rotate(frame, degrees))]
        if expected in texts:
            correct.append(name)
        # An ASCII payload image holds one code: any other text is a misread.
        if is_ascii and any(t != expected for t in texts):
            misreads.append((name, texts))
    assert misreads == []
    assert len(correct) >= THRESHOLDS[set_name][degrees], f"decoded: {sorted(correct)}"


@needs_data
@pytest.mark.parametrize("degrees", list(ROTATIONS))
def test_falsepositives_decode_nothing(degrees: int) -> None:
    found = {name: qr.decode(rotate(frame, degrees)) for name, frame in negative_set()}
    assert len(found) == 25
    assert {name: texts for name, texts in found.items() if texts} == {}


@needs_data
@pytest.mark.parametrize("degrees", list(ROTATIONS))
def test_multi_qrcode_returns_all_four(degrees: int) -> None:
    folder = QR_DIR / "multi-qrcode-1"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    frame = rotate(read_file(folder / "1.png"), degrees)
    texts = qr.decode(frame)
    assert sorted(texts) == sorted(expected["expected_texts_unordered"])
    assert qr.decode(frame) == texts  # stable order


@needs_data
def test_shift_jis_payload_gets_the_right_charset() -> None:
    # qrcode-2/17.png: Shift_JIS half-width katakana; zbar alone decodes it as CJK ideographs.
    texts = qr.decode_file(QR_DIR / "qrcode-2" / "17.png")
    assert [lf(t) for t in texts] == [lf((QR_DIR / "qrcode-2" / "17.txt").read_text("utf-8"))]


@needs_data
def test_nested_code_includes_the_outer_one() -> None:
    texts = [lf(t) for t in qr.decode_file(QR_DIR / "qrcode-2" / "16.png")]
    assert lf((QR_DIR / "qrcode-2" / "16.txt").read_text("utf-8")) in texts


@needs_data
def test_truncated_png_raises_not_an_image(tmp_path: Path) -> None:
    data = (QR_DIR / "qrcode-1" / "1.png").read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(NotAnImage):
        qr.decode_file(path)


# --- synthetic frames (no data needed) --------------------------------------------------


def test_clear_code_is_read_by_the_cheap_step() -> None:
    frame = on_canvas([(qr_image("EG1:ticket-0001", module=6), 200, 100)])
    result = qr.scan(frame)
    assert result.texts == ["EG1:ticket-0001"]
    assert result.step == "zbar"
    assert result.ambiguous == 0


@pytest.mark.parametrize("degrees", list(ROTATIONS))
def test_two_codes_come_back_in_reading_order(degrees: int) -> None:
    left, right = qr_image("LEFT-1", module=5), qr_image("RIGHT-2", module=5)
    frame = rotate(on_canvas([(left, 40, 120), (right, 360, 140)]), degrees)
    # After rotating, "reading order" follows the rotated picture: top row first, then x.
    expected = {0: ["LEFT-1", "RIGHT-2"], 90: ["LEFT-1", "RIGHT-2"],
                180: ["RIGHT-2", "LEFT-1"], 270: ["RIGHT-2", "LEFT-1"]}[degrees]
    assert qr.decode(frame) == expected


def test_gray_and_bgra_frames_decode_like_bgr() -> None:
    bgr = on_canvas([(qr_image("GATE-7", module=6), 100, 100)])
    gray = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    bgra = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), dtype=np.uint8)
    assert qr.decode(bgr) == qr.decode(gray) == qr.decode(bgra) == ["GATE-7"]
    assert qr.decode(gray[:, :, np.newaxis]) == ["GATE-7"]


def test_non_contiguous_view_decodes() -> None:
    frame = on_canvas([(qr_image("VIEW-3", module=6), 100, 100)])
    view = frame[::-1, ::-1]  # negative strides
    assert not view.flags["C_CONTIGUOUS"]
    assert qr.decode(view) == ["VIEW-3"]


def test_unreadable_code_falls_through_to_nothing() -> None:
    # Half of the code wiped out: every step runs, nothing is accepted.
    img = qr_image("DAMAGED", module=6).copy()
    img[: img.shape[0] // 2, :] = 255
    assert qr.scan(on_canvas([(img, 100, 100)])) == qr.Scan((), None, 0)


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((0, 0, 3), dtype=np.uint8),
        np.zeros((1, 1), dtype=np.uint8),
        np.zeros((3, 5, 3), dtype=np.uint8),
        np.zeros((480, 640, 3), dtype=np.uint8),
        np.full((480, 640), 255, dtype=np.uint8),
        np.random.default_rng(7).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        (np.random.default_rng(8).integers(0, 2, (120, 160), dtype=np.uint8) * 255),
        np.zeros((480, 640, 3), dtype=np.float32),
        np.zeros((4, 4, 5), dtype=np.uint8),
        np.zeros((2, 2, 2, 2), dtype=np.uint8),
        np.zeros(10, dtype=np.uint8),
    ],
    ids=["empty", "1x1", "tiny", "black", "white", "noise", "binary-noise", "float",
         "5-channel", "4d", "1d"],
)
def test_odd_frames_give_an_empty_list(frame: Frame) -> None:
    assert qr.decode(frame) == []


@needs_data
def test_fast_mode_stops_after_the_plain_frame_steps() -> None:
    # With zbar and zxing-cpp both on the plain frame, the later steps read nothing more on
    # qrcode-2; fast mode must answer from the first two steps only, with the same texts.
    for png in sorted((QR_DIR / "qrcode-2").glob("*.png")):
        frame = read_file(png)
        fast, full = qr.scan(frame, thorough=False), qr.scan(frame)
        assert fast.step in (None, "zbar", "zxing"), png.name
        assert fast.texts == full.texts, png.name


# --- text policy ------------------------------------------------------------------------

SJIS = "ﾃﾞｻﾞｲﾝQR".encode("shift_jis")


@pytest.mark.parametrize(
    ("decoder", "text", "raw", "expected"),
    [
        ("zxing", "ﾃﾞｻﾞｲﾝQR", SJIS, "ﾃﾞｻﾞｲﾝQR"),
        ("zxing", "", b"", None),
        ("zbar", None, b"EG1:abc\r\n", "EG1:abc\r\n"),
        ("zbar", None, "Grüße".encode(), "Grüße"),
        ("zbar", None, SJIS, None),
        ("zbar", None, "測試".encode("big5"), None),
        ("zbar", None, b"", None),
        ("opencv", "EG1:abc", None, "EG1:abc"),
        ("opencv", "ÃÞ»Þ²ÝQR", None, None),
        ("opencv", "", None, None),
    ],
)
def test_charset_policy(decoder: str, text: str | None, raw: bytes | None, expected: str | None) -> None:
    assert qr.text_of(decoder, text, raw) == expected


def _hit(decoder: str, text: str | None, raw: bytes) -> qr._Hit:
    return qr._Hit(decoder, text, raw, (10.0, 20.0))


def test_preprocessed_reads_need_two_decoders_on_the_same_bytes() -> None:
    v = qr._Variant("blur", np.zeros((1, 1), dtype=np.uint8))
    assert qr.confirmed([(_hit("zbar", None, b"ABC"), v)]) == []
    assert qr.confirmed([(_hit("zxing", "ABC", b"ABC"), v), (_hit("zbar", None, b"ABD"), v)]) == []
    both = qr.confirmed([(_hit("zbar", None, SJIS), v), (_hit("zxing", "ﾃﾞｻﾞｲﾝQR", SJIS), v)])
    assert [(r.text, r.decoder, r.step) for r in both] == [("ﾃﾞｻﾞｲﾝQR", "zxing", "prep:blur")]


def test_preprocessed_centre_maps_back_to_the_frame() -> None:
    half = qr._Variant("half", np.zeros((1, 1), dtype=np.uint8), scale=0.5)
    border = qr._Variant("border", np.zeros((1, 1), dtype=np.uint8), offset=8.0)
    hit = _hit("zxing", "X", b"X")
    assert qr._reading(hit, "X", "prep:half", half).center == (20.0, 40.0)
    assert qr._reading(hit, "X", "prep:border", border).center == (2.0, 12.0)


# --- files ------------------------------------------------------------------------------


def test_decode_file_reads_a_png(tmp_path: Path) -> None:
    path = tmp_path / "ticket.png"
    ok, buf = cv2.imencode(".png", on_canvas([(qr_image("EG1:file", module=6), 50, 50)]))
    assert ok
    path.write_bytes(buf.tobytes())
    assert qr.decode_file(path) == ["EG1:file"]
    assert qr.decode_file(str(path)) == ["EG1:file"]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", EmptyImage),
        (b"this is a text file, not an image\n", NotAnImage),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x02\x80\x00\x00\x01\xe0", NotAnImage),
    ],
    ids=["empty", "text", "png-header-only"],
)
def test_bad_files_raise_image_errors(tmp_path: Path, content: bytes, error: type[ImageError]) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(error):
        qr.decode_file(path)


def test_missing_file_raises_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        qr.decode_file(tmp_path / "nope.png")
