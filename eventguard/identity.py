"""Identity documents (人证票合一): number checks by document type and the ID-card reader frame.

Pure: text and bytes in, a verdict or a parsed read out; `today` is a parameter.

Resident identity card numbers (GB 11643-1999): 18 characters, the first 17 digits, the last the
ISO 7064 MOD 11-2 check character (0-9 or X); digits 1-6 the region of first registration
(GB/T 2260; looked up in the administrative-division table shipped with python-stdnum, which
also knows the years a county code was in use), 7-14 the birth date, 15-17 a sequence number.
Other documents are checked by their published shapes: passports (ICAO 9303: up to 9 letters
and digits; we accept 5-9), Mainland Travel Permits for Hong Kong and Macao residents (H or M
and 8 digits, or 10 for older permits), Mainland Travel Permits for Taiwan residents (8 digits,
or 10 characters for older permits).

The reader frame is what certified resident-ID-card readers (GA 467) return for a card read:
a 5-byte preamble AA AA AA 96 69, a 2-byte big-endian length of what follows, 3 status bytes
(00 00 90 = success), a 2-byte text length and a 2-byte photo length, the text (UCS-2 LE,
fixed-width fields: name 30 bytes, sex 2, nation 4, birth date 16, address 70, number 36,
authority 30, valid from 16, valid until 16, reserved 36), the photo bytes, and an XOR checksum
of every byte after the preamble up to it. Chip photos are in the vendor's WLT format unless
the reader SDK already decoded them (then JPEG or PNG); we keep them as bytes and say which.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
OLDEST_BIRTH = date(1900, 1, 1)


class DocType(enum.StrEnum):
    """Which identity document a number belongs to."""

    RESIDENT_ID = "resident_id"  # 居民身份证
    PASSPORT = "passport"
    HK_MACAU_PERMIT = "hk_macau_permit"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证


class IdProblem(enum.StrEnum):
    """Why a document number is refused (closed vocabulary)."""

    BAD_LENGTH = "bad_length"
    BAD_FORMAT = "bad_format"
    BAD_CHECK_DIGIT = "bad_check_digit"
    BAD_BIRTH_DATE = "bad_birth_date"
    UNKNOWN_REGION = "unknown_region"


_TEXT = {
    IdProblem.BAD_LENGTH: "wrong length for this document",
    IdProblem.BAD_FORMAT: "characters this document does not use",
    IdProblem.BAD_CHECK_DIGIT: "the check digit does not match (a digit mistyped?)",
    IdProblem.BAD_BIRTH_DATE: "the birth date in the number is not a real past date",
    IdProblem.UNKNOWN_REGION: "the region code (first 6 digits) is not a GB/T 2260 county of that time",
}


def explain(problem: IdProblem) -> str:
    """Human text for a problem code."""
    return _TEXT[problem]


def normalise(number: str) -> str:
    """Upper case, spaces and dashes removed (how numbers are stored and hashed)."""
    return re.sub(r"[\s-]", "", number).upper()


def keyed_hash(secret: bytes, number: str) -> bytes:
    """HMAC-SHA256 of the normalised number under `secret`: what registrations store and gates
    match (no clear ID number leaves the import)."""
    return hmac.new(secret, normalise(number).encode("utf-8"), hashlib.sha256).digest()


def check_digit(first17: str) -> str:
    """The GB 11643 check character of 17 digits."""
    return CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def _region_known(number: str, born: date) -> bool:
    from stdnum import numdb  # GB/T 2260 table with the years each county code was used

    info = {k: v for _, props in numdb.get("cn/loc").info(number[:6]) for k, v in props.items()}
    if not info.get("county"):
        return False
    for county in info["county"].split(","):
        if not county.startswith("["):
            return True
        start, end = county[1:].split("]")[0].split("-")
        if (not start or born.year >= int(start)) and (not end or born.year <= int(end)):
            return True
    return False


def check_resident_id(number: str, today: date) -> IdProblem | None:
    """None if `number` is a well-formed resident ID number, else the first problem found."""
    n = normalise(number)
    if len(n) != 18:
        return IdProblem.BAD_LENGTH
    if not n[:17].isdigit() or not n[:17].isascii() or n[17] not in "0123456789X":
        return IdProblem.BAD_FORMAT
    if n[17] != check_digit(n[:17]):
        return IdProblem.BAD_CHECK_DIGIT
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        return IdProblem.BAD_BIRTH_DATE
    if not OLDEST_BIRTH <= born <= today:
        return IdProblem.BAD_BIRTH_DATE
    if not _region_known(n, born):
        return IdProblem.UNKNOWN_REGION
    return None


_SHAPES = {
    DocType.PASSPORT: (re.compile(r"^[A-Z0-9]{5,9}$"), (5, 9)),
    DocType.HK_MACAU_PERMIT: (re.compile(r"^[HM]([0-9]{8}|[0-9]{10})$"), (9, 11)),
    DocType.TAIWAN_PERMIT: (re.compile(r"^([0-9]{8}|[0-9A-Z]{10})$"), (8, 10)),
}


def check_number(doc: DocType, number: str, today: date) -> IdProblem | None:
    """None if `number` is well formed for its document type, else the problem."""
    if doc is DocType.RESIDENT_ID:
        return check_resident_id(number, today)
    n = normalise(number)
    shape, (low, high) = _SHAPES[doc]
    if not low <= len(n) <= high:
        return IdProblem.BAD_LENGTH
    return None if shape.match(n) else IdProblem.BAD_FORMAT


# ---- ID-card reader frames -----------------------------------------------------------------

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
SUCCESS = b"\x00\x00\x90"
TEXT_FIELDS = (("name", 30), ("sex", 2), ("nation", 4), ("birth", 16), ("address", 70), ("number", 36),
               ("authority", 30), ("valid_from", 16), ("valid_until", 16), ("reserved", 36))
TEXT_BYTES = sum(n for _, n in TEXT_FIELDS)  # 256
MAX_PHOTO_BYTES = 64 * 1024


class FrameError(ValueError):
    """A reader frame that cannot be used; the message says what is wrong."""


class PhotoFormat(enum.StrEnum):
    """What the chip photo bytes are."""

    NONE = "none"
    WLT = "wlt"  # the card's own compressed format: needs the reader vendor's decoder
    JPEG = "jpeg"
    PNG = "png"


@dataclass(frozen=True, slots=True)
class CardRead:
    """One resident ID card as a reader returned it."""

    name: str
    sex: str
    number: str
    birth: str  # YYYYMMDD as on the card
    valid_from: str  # YYYYMMDD
    valid_until: str  # YYYYMMDD or 长期 (no expiry)
    photo: bytes
    photo_format: PhotoFormat

    def expired(self, today: date) -> bool:
        """Whether the card's validity ended before `today` (长期 never ends)."""
        if not self.valid_until.isdigit() or len(self.valid_until) != 8:
            return False
        try:
            return date(int(self.valid_until[:4]), int(self.valid_until[4:6]), int(self.valid_until[6:])) < today
        except ValueError:
            return False


def _photo_format(photo: bytes) -> PhotoFormat:
    if not photo:
        return PhotoFormat.NONE
    if photo.startswith(b"\xff\xd8\xff"):
        return PhotoFormat.JPEG
    if photo.startswith(b"\x89PNG\r\n\x1a\n"):
        return PhotoFormat.PNG
    return PhotoFormat.WLT


def parse_frame(frame: bytes) -> CardRead:
    """A reader frame (see the module docstring) as a CardRead; FrameError naming the problem."""
    if len(frame) < len(PREAMBLE) + 2:
        raise FrameError(f"frame too short: {len(frame)} bytes")
    if not frame.startswith(PREAMBLE):
        raise FrameError("frame does not start with the reader preamble AA AA AA 96 69")
    length = int.from_bytes(frame[5:7], "big")
    body = frame[7:]
    if len(body) != length:
        raise FrameError(f"frame length field says {length} bytes, {len(body)} follow")
    if length < 3 + 4 + 1:
        raise FrameError(f"frame body too short: {length} bytes")
    if body[:3] != SUCCESS:
        raise FrameError(f"reader status {body[:3].hex()} is not success (000090)")
    checksum = 0
    for b in frame[5:-1]:
        checksum ^= b
    if checksum != frame[-1]:
        raise FrameError("frame checksum does not match")
    text_len = int.from_bytes(body[3:5], "big")
    photo_len = int.from_bytes(body[5:7], "big")
    if text_len != TEXT_BYTES:
        raise FrameError(f"text block is {text_len} bytes, expected {TEXT_BYTES}")
    if photo_len > MAX_PHOTO_BYTES:
        raise FrameError(f"photo block of {photo_len} bytes is larger than {MAX_PHOTO_BYTES}")
    if 7 + text_len + photo_len + 1 != length:
        raise FrameError(f"text ({text_len}) and photo ({photo_len}) lengths do not fill the frame")
    text = body[7:7 + text_len]
    photo = bytes(body[7 + text_len:7 + text_len + photo_len])
    fields: dict[str, str] = {}
    pos = 0
    for name, size in TEXT_FIELDS:
        try:
            fields[name] = text[pos:pos + size].decode("utf-16-le").rstrip(" \x00")
        except UnicodeDecodeError as err:
            raise FrameError(f"field {name} is not UCS-2 text") from err
        pos += size
    if not fields["name"] or not fields["number"]:
        raise FrameError("the card's name or number is empty")
    return CardRead(name=fields["name"], sex=fields["sex"], number=normalise(fields["number"]),
                    birth=fields["birth"], valid_from=fields["valid_from"], valid_until=fields["valid_until"],
                    photo=photo, photo_format=_photo_format(photo))


def build_frame(*, name: str, number: str, sex: str = "1", nation: str = "01", birth: str = "",
                address: str = "", authority: str = "", valid_from: str = "", valid_until: str = "",
                photo: bytes = b"") -> bytes:
    """A frame as a reader would send it (for simulators and tests of the lane)."""
    values = {"name": name, "sex": sex, "nation": nation, "birth": birth or number[6:14], "address": address,
              "number": number, "authority": authority, "valid_from": valid_from, "valid_until": valid_until,
              "reserved": ""}
    text = b""
    for field, size in TEXT_FIELDS:
        raw = values[field].encode("utf-16-le")
        if len(raw) > size:
            raise ValueError(f"{field} longer than {size // 2} characters")
        text += raw + " ".encode("utf-16-le") * ((size - len(raw)) // 2)
    body = SUCCESS + len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo
    length = (len(body) + 1).to_bytes(2, "big")
    checksum = 0
    for b in length + body:
        checksum ^= b
    return PREAMBLE + length + body + bytes([checksum])
