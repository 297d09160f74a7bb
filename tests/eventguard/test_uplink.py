"""The pure parts of the uplink that gates and cameras share (no event loop)."""

from __future__ import annotations

import pytest

from eventguard.uplink import fit


def rows(*sizes: int) -> list[tuple[str, bytes]]:
    return [(str(n), b"x" * size) for n, size in enumerate(sizes)]


@pytest.mark.parametrize(("sizes", "budget", "kept"), [
    ((), 100, 0),
    ((10, 10, 10), 100, 3),
    ((49, 49, 49), 100, 2),  # each row counts one byte more (the comma)
    ((50, 49), 100, 1),
    ((500, 10), 100, 1),  # the oldest goes alone even when over budget: never an empty batch
])
def test_fit_keeps_the_oldest_rows_within_the_budget(sizes: tuple[int, ...], budget: int, kept: int) -> None:
    assert fit(rows(*sizes), budget) == rows(*sizes)[:kept]
