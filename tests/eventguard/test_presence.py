"""eventguard.presence: the one rule for who is inside, table-driven and as a property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventguard.codes import EventKind
from eventguard.presence import COUNTED, Effect, InsideView, Stay, merge, step

IN, OUT = EventKind.ENTRY, EventKind.EXIT


@pytest.mark.parametrize(("current", "kind", "at", "effect", "after"), [
    (None, IN, 10.0, Effect.ENTERED, Stay(True, "G", 10.0)),
    (Stay(False, "N1", 5.0), IN, 10.0, Effect.ENTERED, Stay(True, "G", 10.0)),  # re-entry
    (Stay(True, "N1", 5.0), IN, 10.0, Effect.CONFLICT, Stay(True, "N1", 10.0)),  # second entry
    (Stay(True, "N1", 15.0), IN, 10.0, Effect.CONFLICT, Stay(True, "N1", 15.0)),  # older second entry
    (Stay(False, "S1", 20.0), IN, 10.0, Effect.STALE, Stay(False, "S1", 20.0)),  # entry before a known exit
    (Stay(True, "N1", 5.0), OUT, 10.0, Effect.LEFT, Stay(False, "G", 10.0)),
    (None, OUT, 10.0, Effect.STRAY, None),
    (Stay(False, "S1", 5.0), OUT, 10.0, Effect.STRAY, Stay(False, "S1", 5.0)),
    (Stay(True, "N1", 15.0), OUT, 10.0, Effect.STALE, Stay(True, "N1", 15.0)),  # exit older than entry
])
def test_step(current: Stay | None, kind: EventKind, at: float, effect: Effect, after: Stay | None) -> None:
    assert step(current, kind, "G", at) == (effect, after)


def test_only_entries_and_exits_move_presence() -> None:
    with pytest.raises(ValueError, match="deny"):
        step(None, EventKind.DENY, "G", 1.0)


@pytest.mark.parametrize(("current", "learned", "kept"), [
    (None, Stay(True, "N1", 1.0), Stay(True, "N1", 1.0)),
    (Stay(True, "N1", 1.0), Stay(False, "S1", 2.0), Stay(False, "S1", 2.0)),
    (Stay(True, "N1", 3.0), Stay(False, "S1", 2.0), Stay(True, "N1", 3.0)),  # local news is newer
    (Stay(True, "N1", 2.0), Stay(False, "S1", 2.0), Stay(False, "S1", 2.0)),  # a tie: the learned one
])
def test_merge_keeps_the_newest(current: Stay | None, learned: Stay, kept: Stay) -> None:
    assert merge(current, learned) == kept


def test_inside_view() -> None:
    book = {"a": Stay(True, "N1", 1.0), "b": Stay(False, "S1", 2.0)}
    view = InsideView(book)
    assert "a" in view and "b" not in view and "c" not in view and 3 not in view
    assert list(view) == ["a"]
    book["c"] = Stay(True, "N2", 3.0)  # a view, not a copy
    assert "c" in view


scans = st.lists(st.tuples(st.integers(0, 5), st.sampled_from([IN, OUT]), st.sampled_from(["N1", "N2", "S1"]),
                           st.floats(0, 1000, allow_nan=False)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(scans)
def test_occupancy_is_counted_entries_minus_counted_exits_in_any_order(events: list[tuple[int, EventKind, str,
                                                                                           float]]) -> None:
    book: dict[str, Stay] = {}
    entered = left = 0
    for ticket, kind, gate, at in events:
        t = f"t{ticket}"
        before = book.get(t)
        effect, after = step(before, kind, gate, at)
        if after is not None:
            book[t] = after
        entered += effect is Effect.ENTERED
        left += effect is Effect.LEFT
        if effect not in COUNTED:  # an uncounted event never moves a ticket in or out
            assert bool(before and before.inside) == bool(after and after.inside)
    inside = sum(1 for s in book.values() if s.inside)
    assert inside == entered - left  # one ticket counts at most once, whatever the order
    assert 0 <= inside <= len(book)
