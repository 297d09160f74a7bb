"""The gate's uplink against a real websocket server on loopback that loses acks."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import AckingServer, running, wait_for

from eventguard.wire import EventKind, GateEvent, Welcome, decode_gate_message
from gate.journal import Journal
from gate.uplink import Uplink, wrong_welcome


def entry(n: int) -> GateEvent:
    return GateEvent(event_id=f"G1:{n}", gate_id="G1", kind=EventKind.ENTRY, at=1000.0 + n, verdict="admit")


@pytest.mark.parametrize(("subject", "event_id", "gate_id", "refusal"), [
    ("N1", "demo", "N1", None),
    ("N1", "", "N1", None),  # a server that does not say its event
    ("N2", "demo", None, None),  # no gate id configured: any
    ("N2", "demo", "N1", "the token in use belongs to gate 'N2', not 'N1': give this gate its own token "
                         "(eventguard gates token N1)"),
    ("N1", "other", "N1", "the command server at ws://h:1/ws/gate serves event 'other', this gate is "
                          "configured for 'demo': check --venue/--event or --server"),
])
def test_a_welcome_for_another_gate_or_event_stops_the_gate(subject: str, event_id: str, gate_id: str | None,
                                                             refusal: str | None) -> None:
    welcome = Welcome(subject=subject, role="gate", server_time=0.0, event_id=event_id)
    assert wrong_welcome(welcome, url="ws://h:1/ws/gate", gate_id=gate_id, event_id="demo") == refusal


async def test_a_lost_ack_is_resent_and_later_acks_are_not_swallowed(tmp_path: Path) -> None:
    """A batch whose ack never comes times out and is resent on a new connection; the acks
    that follow reach the uplink (a waiter left over from the timeout used to take them,
    so every batch timed out in turn and the journal never drained)."""
    journal = Journal(tmp_path / "j.sqlite")
    io = ThreadPoolExecutor(1)
    async with AckingServer("G1", decode_gate_message, lose=1) as server:
        uplink = Uplink(server.url, "token", journal, io, ack_timeout_s=0.3, retry_s=0.05)
        async with running(uplink):
            for n in range(3):
                journal.append(entry(n))
                uplink.notify()
                await wait_for(lambda: journal.pending() == 0, within=5)
    io.shutdown()
    journal.close()
    batches = server.batches
    assert batches[0].events == batches[1].events  # the unacknowledged batch was sent again
    assert len(batches) == 4


class RacingJournal(Journal):
    """A journal in which an event is journaled, and the uplink told, just after the uplink's read
    found nothing and before that empty answer reaches it: a scan in that gap."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.tell: Uplink | None = None
        self.loop = asyncio.get_running_loop()

    def unacked_raw(self, limit: int = 500) -> list[tuple[str, bytes]]:
        rows = super().unacked_raw(limit)
        if not rows and self.tell is not None:
            self.append(entry(1))
            self.loop.call_soon_threadsafe(self.tell.notify)  # runs before the uplink sees `rows`
            self.tell = None
        return rows


async def test_an_event_journaled_while_the_uplink_reads_an_empty_journal_is_sent(tmp_path: Path) -> None:
    """The uplink cleared its wake-up flag after reading an empty journal, so a notify() that came
    between the read and the clear was lost: the event waited for the next one (or a reconnect)."""
    journal = RacingJournal(tmp_path / "j.sqlite")
    io = ThreadPoolExecutor(1)
    async with AckingServer("G1", decode_gate_message) as server:
        uplink = Uplink(server.url, "token", journal, io, retry_s=0.05)
        journal.tell = uplink
        async with running(uplink):
            await wait_for(lambda: journal.tell is None, within=5)
            await wait_for(lambda: journal.pending() == 0, within=3)
    io.shutdown()
    journal.close()
    assert [e.event_id for b in server.batches for e in b.events] == ["G1:1"]
