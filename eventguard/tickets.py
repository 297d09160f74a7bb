"""Signed, offline-verifiable tickets: compact binary payload + Ed25519, as base45 QR text.

Layout of the signed bytes (all integers big-endian):
    version u8 (=1) | key_id u8 | issued_at u32 | valid_from u32 | valid_until u32 |
    ticket_id 16 B (UUID) | holder_ref 16 B (registration UUID, zeros if none) |
    event_id u8-len str | entrances u8-len str (comma separated, empty = every entrance) |
    kind u8-len str
followed by a 64-byte Ed25519 signature over DOMAIN + those bytes. The QR text is
"EG1:" + base45(bytes + signature): QR alphanumeric mode, version <= 10 at ECC level M.

`verify` is a pure function: payload text, keys, revocations, who is inside and the
current time in; a TicketCheck with one closed-vocabulary code out. It never raises.
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Container, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from eventguard.base45 import b45decode, b45encode
from eventguard.errors import TicketFormatError

PREFIX = "EG1:"
DOMAIN = b"eventguard-ticket-v1\x00"
VERSION = 1
SIG_LEN = 64
MAX_TEXT = 400
# Field limits (UTF-8 bytes) that keep the worst-case QR at version <= 10, ECC level M:
# 113 fixed bytes + 24 + 48 + 16 = 201 bytes -> 4 + 302 base45 chars <= 311 (v10-M alphanumeric).
MAX_EVENT_ID = 24
MAX_ENTRANCES = 48  # the comma-joined list
MAX_KIND = 16
_HEAD = struct.Struct(">BBIII16s16s")


class TicketCode(enum.StrEnum):
    """Closed vocabulary of ticket check outcomes (human text lives in the UI)."""

    VALID = "valid"
    BAD_FORMAT = "bad_format"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    OTHER_EVENT = "other_event"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WRONG_ENTRANCE = "wrong_entrance"
    ALREADY_INSIDE = "already_inside"
    NOT_INSIDE = "not_inside"
    REISSUED = "reissued"  # revoked because a new ticket replaced it (lost or stolen)


@dataclass(frozen=True, slots=True)
class Ticket:
    """The facts a ticket carries."""

    event_id: str
    ticket_id: str  # UUID hex
    holder_ref: str | None  # registration UUID hex
    entrances: tuple[str, ...]  # empty: every entrance
    valid_from: int
    valid_until: int
    issued_at: int
    kind: str = "standard"
    key_id: int = 1

    def allows(self, gate_id: str) -> bool:
        """True if this ticket may enter at gate_id."""
        return not self.entrances or gate_id in self.entrances


@dataclass(frozen=True, slots=True)
class TicketCheck:
    """Outcome of verifying one scanned payload."""

    code: TicketCode
    ticket: Ticket | None = None

    @property
    def ok(self) -> bool:
        """True when the ticket may pass."""
        return self.code is TicketCode.VALID


def _short(s: str, what: str, limit: int) -> bytes:
    b = s.encode("utf-8")
    if len(b) > limit:
        raise ValueError(f"{what} is longer than {limit} bytes")
    return bytes([len(b)]) + b


def _body(t: Ticket) -> bytes:
    holder = uuid.UUID(hex=t.holder_ref).bytes if t.holder_ref else bytes(16)
    for e in t.entrances:
        if "," in e or not e:
            raise ValueError(f"bad entrance id {e!r}")
    return (
        _HEAD.pack(VERSION, t.key_id, t.issued_at, t.valid_from, t.valid_until,
                   uuid.UUID(hex=t.ticket_id).bytes, holder)
        + _short(t.event_id, "event_id", MAX_EVENT_ID)
        + _short(",".join(t.entrances), "entrances", MAX_ENTRANCES)
        + _short(t.kind, "kind", MAX_KIND)
    )


def sign(ticket: Ticket, key: Ed25519PrivateKey) -> str:
    """QR text for a ticket, signed with the event's private key.

    ValueError if a field is over its limit (MAX_EVENT_ID, MAX_ENTRANCES, MAX_KIND), an
    entrance id is empty or has a comma, or a time does not fit in 32 bits.
    """
    if not 0 <= ticket.valid_from <= ticket.valid_until < 2**32 or not 0 <= ticket.issued_at < 2**32:
        raise ValueError("times must be unix seconds in 0..2**32-1 with valid_from <= valid_until")
    if not 1 <= ticket.key_id <= 255:
        raise ValueError("key_id must be 1..255")
    body = _body(ticket)
    return PREFIX + b45encode(body + key.sign(DOMAIN + body))


def _take_str(buf: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(buf):
        raise TicketFormatError("payload truncated")
    n = buf[pos]
    end = pos + 1 + n
    if end > len(buf):
        raise TicketFormatError("payload truncated")
    try:
        return buf[pos + 1 : end].decode("utf-8"), end
    except UnicodeDecodeError as err:
        raise TicketFormatError("payload string is not UTF-8") from err


def parse(text: str) -> tuple[Ticket, bytes, bytes]:
    """Split QR text into (ticket, signed bytes, signature); TicketFormatError if malformed."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise TicketFormatError("not an EventGuard ticket (too long or not text)")
    if not text.startswith(PREFIX):
        raise TicketFormatError("not an EventGuard ticket (wrong prefix)")
    try:
        raw = b45decode(text[len(PREFIX):])
    except ValueError as err:
        raise TicketFormatError(f"bad encoding: {err}") from err
    if len(raw) < _HEAD.size + 3 + SIG_LEN:
        raise TicketFormatError("payload truncated")
    body, sig = raw[:-SIG_LEN], raw[-SIG_LEN:]
    version, key_id, issued, vfrom, vuntil, tid, holder = _HEAD.unpack_from(body, 0)
    if version != VERSION:
        raise TicketFormatError(f"unsupported ticket version {version}")
    pos = _HEAD.size
    event_id, pos = _take_str(body, pos)
    entrances, pos = _take_str(body, pos)
    kind, pos = _take_str(body, pos)
    if pos != len(body):
        raise TicketFormatError("trailing bytes in payload")
    if vuntil < vfrom:
        raise TicketFormatError("validity window ends before it starts")
    ticket = Ticket(
        event_id=event_id, ticket_id=uuid.UUID(bytes=tid).hex,
        holder_ref=None if holder == bytes(16) else uuid.UUID(bytes=holder).hex,
        entrances=tuple(e for e in entrances.split(",") if e), valid_from=vfrom,
        valid_until=vuntil, issued_at=issued, kind=kind, key_id=key_id,
    )
    return ticket, body, sig


def verify(
    text: str,
    *,
    keys: Mapping[int, Ed25519PublicKey],
    event_id: str,
    gate_id: str,
    now: float,
    revoked: Container[str] = frozenset(),
    inside: Container[str] = frozenset(),
    reissued: Container[str] = frozenset(),
    direction: str = "entry",
    leeway_s: float = 60.0,
) -> TicketCheck:
    """Check a scanned payload; the order of checks is format, key, signature, then facts."""
    try:
        ticket, body, sig = parse(text)
    except TicketFormatError:
        return TicketCheck(TicketCode.BAD_FORMAT)
    key = keys.get(ticket.key_id)
    if key is None:
        return TicketCheck(TicketCode.UNKNOWN_KEY, ticket)
    try:
        key.verify(sig, DOMAIN + body)
    except InvalidSignature:
        return TicketCheck(TicketCode.BAD_SIGNATURE, ticket)
    if ticket.event_id != event_id:
        return TicketCheck(TicketCode.OTHER_EVENT, ticket)
    if ticket.ticket_id in revoked:
        return TicketCheck(TicketCode.REISSUED if ticket.ticket_id in reissued else TicketCode.REVOKED, ticket)
    if now + leeway_s < ticket.valid_from:
        return TicketCheck(TicketCode.NOT_YET_VALID, ticket)
    if now - leeway_s > ticket.valid_until:
        return TicketCheck(TicketCode.EXPIRED, ticket)
    if direction == "exit":
        if ticket.ticket_id not in inside:
            return TicketCheck(TicketCode.NOT_INSIDE, ticket)
        return TicketCheck(TicketCode.VALID, ticket)
    if not ticket.allows(gate_id):
        return TicketCheck(TicketCode.WRONG_ENTRANCE, ticket)
    if ticket.ticket_id in inside:
        return TicketCheck(TicketCode.ALREADY_INSIDE, ticket)
    return TicketCheck(TicketCode.VALID, ticket)


def new_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def public_raw(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public half (what gates receive)."""
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_raw(key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the private key (stored only in a 0600 file on the issuer)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def load_public(raw: bytes) -> Ed25519PublicKey:
    """Public key from 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(raw)


def load_private(raw: bytes) -> Ed25519PrivateKey:
    """Private key from 32 raw bytes."""
    return Ed25519PrivateKey.from_private_bytes(raw)
