"""人证票合一 at the lane: an ID document read, checked, and matched with the ticket holder, pure.

A read is an 18-digit resident ID number typed or scanned (`read_number`), or the frame of a
certified ID-card reader (`read_frame`, parsed by eventguard.identity.parse_frame: name, number,
validity, chip photo). Either is checked first (GB 11643 check digit, a real birth date, a GB/T
2260 region): a bad read is refused with an IdReadError naming the problem, so the lane reads
again rather than sending someone to a steward over a typo.

`id_check` then compares the keyed hash of the number (eventguard.identity.keyed_hash, under the
ID-number key synced to gates) with the registration's, synced with the holder's face to the gates
that may admit the holder: no clear ID number is ever stored on a gate. The chip photo, when the
reader gave a JPEG or PNG, is compared 1:1 with the live face by the service (gate/service.py,
off the event loop); its distance comes in here. The verdict is gate/decide.py's.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date

from eventguard.identity import (
    DocType,
    FrameError,
    PhotoFormat,
    check_number,
    explain,
    keyed_hash,
    normalise,
    parse_frame,
)
from gate.decide import IdCheck


class IdReadError(ValueError):
    """An ID read that cannot be used (the lane reads again); `code` is bad_id_number or bad_id_frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class IdRead:
    """A checked ID document read."""

    number: str  # normalised; kept in memory for one scan, never stored or sent
    expired: bool = False
    photo: bytes = b""  # the chip photo when it is a JPEG or PNG (WLT photos need the vendor's decoder)

    @property
    def last4(self) -> str:
        """What a terminal may show of the number."""
        return self.number[-4:]


def read_number(text: str, today: date) -> IdRead:
    """A typed or scanned resident ID number, checked."""
    number = normalise(text)
    problem = check_number(DocType.RESIDENT_ID, number, today)
    if problem is not None:
        raise IdReadError("bad_id_number", explain(problem))
    return IdRead(number)


def read_frame(frame: bytes, today: date) -> IdRead:
    """A reader frame, parsed and its number checked."""
    try:
        card = parse_frame(frame)
    except FrameError as err:
        raise IdReadError("bad_id_frame", str(err)) from None
    problem = check_number(DocType.RESIDENT_ID, card.number, today)
    if problem is not None:
        raise IdReadError("bad_id_number", explain(problem))
    photo = card.photo if card.photo_format in (PhotoFormat.JPEG, PhotoFormat.PNG) else b""
    return IdRead(card.number, expired=card.expired(today), photo=photo)


def id_check(read: IdRead, *, key: bytes, registered: bytes | None, photo_distance: float | None = None,
             photo_tolerance: float = 0.6) -> IdCheck:
    """The read against the holder's registered ID hash (`registered` None or b"", or no key:
    this gate cannot tell)."""
    if not key or not registered:
        matches: bool | None = None
    else:
        matches = hmac.compare_digest(keyed_hash(key, read.number), registered)
    return IdCheck(matches=matches, expired=read.expired, photo_distance=photo_distance,
                   photo_tolerance=photo_tolerance)
