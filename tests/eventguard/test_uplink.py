"""The pure parts of the uplink that gates and cameras share (no event loop)."""

from __future__ import annotations

import pytest

from eventguard.uplink import backoff, fit, status_refusal


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


def test_backoff_doubles_up_to_ten_seconds() -> None:
    delays = [1.0]
    for _ in range(5):
        delays.append(backoff(delays[-1]))
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize(("kind", "status", "refusal"), [
    ("gate", 401, "the command server at ws://h:1/ws/gate refused this gate's token (HTTP 401): "
                  "check --token-file (eventguard gates token GATE)"),
    ("camera", 403, "the command server at ws://h:1/ws/camera refused this camera's token (HTTP 403): "
                    "check --token-file (eventguard cameras token CAMERA)"),
    ("gate", 404, "no gate endpoint at ws://h:1/ws/gate (HTTP 404): the path is /ws/gate"),
    ("camera", 404, "no camera endpoint at ws://h:1/ws/camera (HTTP 404): the path is /ws/camera"),
    ("gate", 500, None),  # retrying may help
    ("camera", 503, None),
])
def test_status_refusal_says_what_to_change(kind: str, status: int, refusal: str | None) -> None:
    assert status_refusal(kind, f"ws://h:1/ws/{kind}", status) == refusal
