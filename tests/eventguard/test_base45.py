"""Base45 against RFC 9285's examples, its error cases and a round-trip property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventguard.base45 import ALPHABET, b45decode, b45encode

RFC = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"), (b"ietf!", "QED8WEX0"),
       (b"", ""), (b"\x00", "00"), (b"\xff\xff", "FGW")]


@pytest.mark.parametrize(("raw", "text"), RFC)
def test_rfc_9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


@pytest.mark.parametrize("text", ["GGW", "ZZZ", "GGWA0", "Z:", "A", "ABCD", "ab", "Ä00", "00\n"])
def test_refuses_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        b45decode(text)


@given(st.binary(max_size=400))
def test_round_trip(raw: bytes) -> None:
    text = b45encode(raw)
    assert set(text) <= set(ALPHABET)
    assert len(text) == 3 * (len(raw) // 2) + 2 * (len(raw) % 2)
    assert b45decode(text) == raw
