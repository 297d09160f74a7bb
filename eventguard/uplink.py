"""What a gate's and a camera's links to the command server share: batches that fit the
server's message limit."""

from __future__ import annotations

from eventguard.wire import MAX_MESSAGE_BYTES

BATCH_BYTES = MAX_MESSAGE_BYTES // 2  # a batch stays well under the server's message limit


def fit(rows: list[tuple[str, bytes]], budget: int) -> list[tuple[str, bytes]]:
    """The oldest rows whose JSON fits in budget bytes (at least one: a single event or report
    is far smaller than the limit, the gate or camera builds it)."""
    total = 0
    for n, (_, body) in enumerate(rows):
        total += len(body) + 1
        if total > budget and n:
            return rows[:n]
    return rows
