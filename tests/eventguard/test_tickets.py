"""Signed tickets: every verification outcome, tampering, fuzzing and QR size (no I/O, no loop)."""

from __future__ import annotations

import uuid

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from eventguard import tickets
from eventguard.base45 import ALPHABET, b45decode, b45encode
from eventguard.tickets import PREFIX, Ticket, TicketCheck, TicketCode, sign, verify

KEY = tickets.load_private(bytes(range(32)))
OTHER = tickets.load_private(bytes(range(1, 33)))
KEYS = {1: KEY.public_key()}
NOW = 1_800_000_000
EVENT = "demo-2026"


def _ticket(**kw: object) -> Ticket:
    base: dict[str, object] = dict(event_id=EVENT, ticket_id=uuid.UUID(int=7).hex, holder_ref=uuid.UUID(int=9).hex,
                                   entrances=("N1", "N2"), valid_from=NOW - 3600, valid_until=NOW + 3600,
                                   issued_at=NOW - 7200, kind="standard", key_id=1)
    base.update(kw)
    return Ticket(**base)  # type: ignore[arg-type]


GOOD = sign(_ticket(), KEY)
TID = _ticket().ticket_id


def _check(text: str, **kw: object) -> TicketCheck:
    args: dict[str, object] = dict(keys=KEYS, event_id=EVENT, gate_id="N1", now=NOW)
    args.update(kw)
    return verify(text, **args)  # type: ignore[arg-type]


CASES: list[tuple[str, str, dict[str, object], TicketCode]] = [
    ("valid", GOOD, {}, TicketCode.VALID),
    ("forged with another key", sign(_ticket(), OTHER), {}, TicketCode.BAD_SIGNATURE),
    ("unknown key id", sign(_ticket(key_id=2), KEY), {}, TicketCode.UNKNOWN_KEY),
    ("truncated by one char", GOOD[:-1], {}, TicketCode.BAD_FORMAT),
    ("truncated by one group", GOOD[:-3], {}, TicketCode.BAD_FORMAT),
    ("half", GOOD[: len(GOOD) // 2], {}, TicketCode.BAD_FORMAT),
    ("prefix only", PREFIX, {}, TicketCode.BAD_FORMAT),
    ("wrong prefix", "EG2:" + GOOD[4:], {}, TicketCode.BAD_FORMAT),
    ("lower case", GOOD.lower(), {}, TicketCode.BAD_FORMAT),
    ("replayed entry", GOOD, {"inside": {TID}}, TicketCode.ALREADY_INSIDE),
    ("expired", GOOD, {"now": NOW + 3600 + 61}, TicketCode.EXPIRED),
    ("expired within leeway", GOOD, {"now": NOW + 3600 + 59}, TicketCode.VALID),
    ("not yet valid", GOOD, {"now": NOW - 3600 - 61}, TicketCode.NOT_YET_VALID),
    ("other event", GOOD, {"event_id": "other-2026"}, TicketCode.OTHER_EVENT),
    ("revoked", GOOD, {"revoked": {TID}}, TicketCode.REVOKED),
    ("revoked beats inside", GOOD, {"revoked": {TID}, "inside": {TID}}, TicketCode.REVOKED),
    ("wrong entrance", GOOD, {"gate_id": "S1"}, TicketCode.WRONG_ENTRANCE),
    ("every entrance", sign(_ticket(entrances=()), KEY), {"gate_id": "S1"}, TicketCode.VALID),
    ("exit without entry", GOOD, {"direction": "exit"}, TicketCode.NOT_INSIDE),
    ("exit after entry", GOOD, {"direction": "exit", "inside": {TID}}, TicketCode.VALID),
    ("exit at any gate", GOOD, {"direction": "exit", "inside": {TID}, "gate_id": "S1"}, TicketCode.VALID),
    ("expired on exit", GOOD, {"direction": "exit", "inside": {TID}, "now": NOW + 9999},
     TicketCode.EXPIRED),
]


@pytest.mark.parametrize(("text", "kw", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verify_outcomes(text: str, kw: dict[str, object], code: TicketCode) -> None:
    assert _check(text, **kw).code is code


def test_valid_check_carries_the_ticket() -> None:
    c = _check(GOOD)
    assert c.ok and c.ticket == _ticket()


def test_every_flipped_byte_is_refused() -> None:
    raw = b45decode(GOOD[len(PREFIX):])
    seen: dict[TicketCode, int] = {}
    for pos in range(len(raw)):
        for bit in (0x01, 0x80, 0xFF):
            bad = bytearray(raw)
            bad[pos] ^= bit
            code = _check(PREFIX + b45encode(bytes(bad))).code
            seen[code] = seen.get(code, 0) + 1
            if pos == 1:  # the key id byte: no such key
                assert code is TicketCode.UNKNOWN_KEY, (pos, bit, code)
            else:
                assert code in (TicketCode.BAD_SIGNATURE, TicketCode.BAD_FORMAT), (pos, bit, code)
    assert TicketCode.VALID not in seen
    assert seen[TicketCode.BAD_SIGNATURE] > seen.get(TicketCode.BAD_FORMAT, 0)


def test_flipped_key_id_with_that_key_known_is_still_refused() -> None:
    raw = bytearray(b45decode(GOOD[len(PREFIX):]))
    raw[1] = 2
    keys = {1: KEY.public_key(), 2: OTHER.public_key()}
    assert _check(PREFIX + b45encode(bytes(raw)), keys=keys).code is TicketCode.BAD_SIGNATURE


def test_appended_bytes_are_refused() -> None:
    raw = b45decode(GOOD[len(PREFIX):])
    assert _check(PREFIX + b45encode(raw + b"\x00")).code in (TicketCode.BAD_SIGNATURE,
                                                               TicketCode.BAD_FORMAT)


@pytest.mark.parametrize("field,value", [("event_id", "e" * 25), ("kind", "k" * 17),
                                         ("entrances", tuple(f"G{i:02d}" for i in range(17))),
                                         ("entrances", ("A,B",)), ("entrances", ("",)),
                                         ("valid_until", 2**32), ("key_id", 0)])
def test_sign_refuses_fields_out_of_limits(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        sign(_ticket(**{field: value}), KEY)


def test_worst_case_ticket_fits_qr_version_10_at_ecc_m() -> None:
    worst = _ticket(event_id="E" * tickets.MAX_EVENT_ID, kind="K" * tickets.MAX_KIND,
                    entrances=("G" * 15, "H" * 16, "I" * 15), valid_until=2**32 - 1)
    assert len(",".join(worst.entrances)) == tickets.MAX_ENTRANCES
    text = sign(worst, KEY)
    assert all(c in ALPHABET for c in text)
    qr = segno.make(text, error="m", micro=False, boost_error=False)
    assert qr.version <= 10, (qr.version, len(text))
    assert qr.mode == "alphanumeric"
    typical = segno.make(GOOD, error="m", micro=False, boost_error=False)
    assert typical.version <= 8


def test_multibyte_utf8_fields_count_bytes() -> None:
    t = _ticket(kind="贵宾票" * 2)  # 18 bytes > 16
    with pytest.raises(ValueError):
        sign(t, KEY)
    ok = _ticket(kind="贵宾票")
    assert _check(sign(ok, KEY)).ticket == ok


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_random_text_never_crashes(text: str) -> None:
    c = _check(text)
    assert isinstance(c, TicketCheck) and c.code is not TicketCode.VALID


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_with_prefix_never_crash(raw: bytes) -> None:
    c = _check(PREFIX + b45encode(raw))
    assert isinstance(c, TicketCheck) and c.code is not TicketCode.VALID


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=400))
def test_random_base45_alphabet_never_crashes(body: str) -> None:
    assert isinstance(_check(PREFIX + body), TicketCheck)


_gate = st.text(alphabet="ABCDEFGHNSWXYZ0123456789-_", min_size=1, max_size=6)
_field = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4)  # <= 16 bytes


@st.composite
def valid_tickets(draw: st.DrawFn) -> Ticket:
    entrances = tuple(draw(st.lists(_gate, max_size=6, unique=True)))
    vfrom = draw(st.integers(0, 2**32 - 1))
    return Ticket(
        event_id=draw(_field), ticket_id=uuid.UUID(int=draw(st.integers(0, 2**128 - 1))).hex,
        holder_ref=draw(st.none() | st.integers(1, 2**128 - 1).map(lambda i: uuid.UUID(int=i).hex)),
        entrances=entrances, valid_from=vfrom, valid_until=draw(st.integers(vfrom, 2**32 - 1)),
        issued_at=draw(st.integers(0, 2**32 - 1)), kind=draw(_field), key_id=draw(st.integers(1, 255)))


@settings(max_examples=200, deadline=None)
@given(valid_tickets())
def test_sign_parse_round_trip(t: Ticket) -> None:
    text = sign(t, KEY)
    parsed, _, _ = tickets.parse(text)
    assert parsed == t
    c = verify(text, keys={t.key_id: KEY.public_key()}, event_id=t.event_id,
               gate_id=t.entrances[0] if t.entrances else "any", now=t.valid_from)
    assert c.code is TicketCode.VALID and c.ticket == t
