"""The gate's uplink against a real websocket server on loopback that loses acks."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import wait_for
from websockets.asyncio.server import ServerConnection, serve

from eventguard.wire import (
    BatchAck,
    EventBatch,
    EventKind,
    GateEvent,
    Welcome,
    decode_gate_message,
    encode,
)
from gate.journal import Journal
from gate.uplink import Uplink


async def test_a_lost_ack_is_resent_and_later_acks_are_not_swallowed(tmp_path: Path) -> None:
    """A batch whose ack never comes times out and is resent on a new connection; the acks
    that follow reach the uplink (a waiter left over from the timeout used to take them,
    so every batch timed out in turn and the journal never drained)."""
    batches: list[EventBatch] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.send(encode(Welcome(subject="G1", role="gate", server_time=0.0)).decode())
        async for raw in ws:
            m = decode_gate_message(raw)
            if isinstance(m, EventBatch):
                batches.append(m)
                if len(batches) > 1:  # the first ack is lost on the way
                    await ws.send(encode(BatchAck(batch_id=m.batch_id, stored=len(m.events),
                                                  duplicates=0)).decode())

    journal = Journal(tmp_path / "j.sqlite")
    io = ThreadPoolExecutor(1)
    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        uplink = Uplink(f"ws://127.0.0.1:{port}", "token", journal, io, ack_timeout_s=0.3, retry_s=0.05)
        task = asyncio.create_task(uplink.run())
        try:
            for n in range(3):
                journal.append(GateEvent(event_id=f"G1:{n}", gate_id="G1", kind=EventKind.ENTRY,
                                         at=1000.0 + n, verdict="admit"))
                uplink.notify()
                await wait_for(lambda: journal.pending() == 0, within=5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            io.shutdown()
            journal.close()
    assert batches[0].events == batches[1].events  # the unacknowledged batch was sent again
    assert len(batches) == 4
