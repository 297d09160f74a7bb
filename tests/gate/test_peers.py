"""Peer link credentials (gate/peers.py): only a listed peer with the event's key gets in."""

from __future__ import annotations

import pytest

from gate.peers import authenticate, credential

KEY = bytes(range(32))
PEERS = frozenset({"N1", "N2"})


@pytest.mark.parametrize(("header", "ok"), [
    (f"Peer N1 {credential(KEY, 'ev', 'N1')}", "N1"),
    (f"Peer N2 {credential(KEY, 'ev', 'N1')}", None),  # another gate's credential
    (f"Peer N1 {credential(KEY, 'other-event', 'N1')}", None),  # another event's
    (f"Peer N1 {credential(bytes(32), 'ev', 'N1')}", None),  # another key
    (f"Peer S9 {credential(KEY, 'ev', 'S9')}", None),  # not a listed peer
    (f"Bearer {credential(KEY, 'ev', 'N1')}", None),
    ("", None),
    ("Peer N1", None),
])
def test_authenticate(header: str, ok: str | None) -> None:
    assert authenticate(header, KEY, "ev", PEERS) == ok


def test_no_key_no_links() -> None:
    assert authenticate(f"Peer N1 {credential(KEY, 'ev', 'N1')}", b"", "ev", PEERS) is None
