"""Identity documents: numbers checked by type (table), reader frames parsed or refused (fuzzed)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventguard.identity import (
    CardRead,
    DocType,
    FrameError,
    IdProblem,
    PhotoFormat,
    build_frame,
    check_digit,
    check_number,
    check_resident_id,
    parse_frame,
)

TODAY = date(2026, 11, 30)


def _with_check(first17: str) -> str:
    return first17 + check_digit(first17)


@pytest.mark.parametrize(("number", "problem"), [
    ("110101199001011237", None),  # Beijing Dongcheng, born 1990-01-01
    ("1101 0119 9001 0112 37", None),  # spaces are ignored
    (_with_check("44030519880315001"), None),  # Shenzhen Nanshan
    ("11010119900101123X", IdProblem.BAD_CHECK_DIGIT),
    ("110101199001011238", IdProblem.BAD_CHECK_DIGIT),
    (_with_check("11010119900230123"), IdProblem.BAD_BIRTH_DATE),  # 30 February
    (_with_check("11010120300101123"), IdProblem.BAD_BIRTH_DATE),  # born in the future
    (_with_check("11010118800101123"), IdProblem.BAD_BIRTH_DATE),  # before 1900
    (_with_check("99010119900101123"), IdProblem.UNKNOWN_REGION),
    (_with_check("11019919900101123"), IdProblem.UNKNOWN_REGION),  # no such county in Beijing
    ("11010119900101123", IdProblem.BAD_LENGTH),
    ("1101011990010112377", IdProblem.BAD_LENGTH),
    ("11010119900101A237", IdProblem.BAD_FORMAT),
    ("11010119900101123Y", IdProblem.BAD_FORMAT),
    ("１１０１０１１９９００１０１１２３７", IdProblem.BAD_FORMAT),  # full-width digits
])
def test_resident_id_numbers(number: str, problem: IdProblem | None) -> None:
    assert check_resident_id(number, TODAY) is problem


@pytest.mark.parametrize(("doc", "number", "problem"), [
    (DocType.PASSPORT, "E12345678", None),
    (DocType.PASSPORT, "G1234", None),
    (DocType.PASSPORT, "E1234567890", IdProblem.BAD_LENGTH),
    (DocType.PASSPORT, "E1234_678", IdProblem.BAD_FORMAT),
    (DocType.HK_MACAU_PERMIT, "H12345678", None),
    (DocType.HK_MACAU_PERMIT, "M1234567890", None),
    (DocType.HK_MACAU_PERMIT, "X12345678", IdProblem.BAD_FORMAT),
    (DocType.HK_MACAU_PERMIT, "H1234567", IdProblem.BAD_LENGTH),
    (DocType.TAIWAN_PERMIT, "12345678", None),
    (DocType.TAIWAN_PERMIT, "1234567", IdProblem.BAD_LENGTH),
    (DocType.TAIWAN_PERMIT, "1234567A", IdProblem.BAD_FORMAT),
    (DocType.RESIDENT_ID, "110101199001011237", None),
])
def test_numbers_by_document_type(doc: DocType, number: str, problem: IdProblem | None) -> None:
    assert check_number(doc, number, TODAY) is problem


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


def test_frame_round_trip() -> None:
    frame = build_frame(name="张三", number="110101199001011237", valid_from="20200101", valid_until="20400101",
                        photo=JPEG)
    read = parse_frame(frame)
    assert read == CardRead(name="张三", sex="1", number="110101199001011237", birth="19900101",
                            valid_from="20200101", valid_until="20400101", photo=JPEG,
                            photo_format=PhotoFormat.JPEG)
    assert not read.expired(TODAY)
    assert parse_frame(build_frame(name="李四", number="110101199001011237", valid_until="20200101")).expired(TODAY)
    assert not parse_frame(build_frame(name="王五", number="110101199001011237", valid_until="长期")).expired(TODAY)
    assert parse_frame(build_frame(name="赵六", number="110101199001011237", photo=b"WL" * 512)).photo_format \
        is PhotoFormat.WLT


GOOD = build_frame(name="张三", number="110101199001011237", photo=JPEG)


@pytest.mark.parametrize(("frame", "message"), [
    (b"", "too short"),
    (b"\x00" * 20, "preamble"),
    (GOOD[:-1], "length field"),
    (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), "checksum"),
    (GOOD[:7] + b"\x00\x00\x91" + GOOD[10:], "status"),
    (build_frame(name="", number="110101199001011237"), "empty"),
])
def test_bad_frames_say_what_is_wrong(frame: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse_frame(frame)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        parse_frame(data)
    except FrameError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(GOOD)))
def test_mutated_frames_are_parsed_or_refused_never_crash(flips: list[tuple[int, int]], cut: int) -> None:
    frame = bytearray(GOOD)
    for pos, value in flips:
        frame[pos] = value
    try:
        parse_frame(bytes(frame[:cut]) if cut < len(GOOD) // 2 else bytes(frame))
    except FrameError:
        pass
