"""A small live stream of attendees for the demo and the end-to-end tests.

Each arrival gets a real ticket issued in PostgreSQL, its QR written as a PNG, and that PNG
is read back as the gate camera's frame. A share of people leave again; some try to re-use
a ticket (anti-passback) or bring a forged one.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from command import issuing
from eventguard import tickets
from gate.service import GateService
from vision.image import read_file

log = logging.getLogger(__name__)


@dataclass
class StreamStats:
    """What the stream did."""

    scans: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    inside: list[tuple[str, str]] = field(default_factory=list)  # (gate id, payload)


async def run_stream(pool: asyncpg.Pool, gates: list[GateService], *, event_id: str, key_id: int,
                     key: Ed25519PrivateKey, rate_per_s: float, duration_s: float, rng: random.Random,
                     workdir: Path | None = None) -> StreamStats:
    """Feed arrivals (and some exits and bad tickets) to the gates for duration_s seconds."""
    stats = StreamStats()
    tmp = Path(workdir or tempfile.mkdtemp(prefix="eventguard-stream-"))
    loop = asyncio.get_running_loop()
    end = time.monotonic() + duration_s
    n = 0
    while time.monotonic() < end:
        await asyncio.sleep(rng.expovariate(rate_per_s))
        n += 1
        gate = rng.choice(gates)
        roll = rng.random()
        direction = "entry"
        if roll < 0.2 and stats.inside:
            gate_id, payload = stats.inside.pop(rng.randrange(len(stats.inside)))
            gate = next(g for g in gates if g.cfg.gate_id == gate_id)
            direction = "exit"
        elif roll < 0.25 and stats.inside:
            payload = rng.choice(stats.inside)[1]  # second entry without exit: anti-passback
        elif roll < 0.28:
            forged = tickets.Ticket(event_id=event_id, ticket_id=f"{rng.getrandbits(128):032x}",
                                    holder_ref=None, entrances=(), valid_from=0,
                                    valid_until=2**32 - 1, issued_at=0, key_id=key_id)
            payload = tickets.sign(forged, tickets.new_key())
        else:
            now = int(time.time())
            async with pool.acquire() as conn:
                _, payload = await issuing.issue(
                    conn, event_id=event_id, key_id=key_id, key=key, valid_from=now - 3600,
                    valid_until=now + 6 * 3600, now=now, entrances=(gate.cfg.gate_id,))
        png = await loop.run_in_executor(None, issuing.render_png, payload, tmp / f"scan-{n}.png")
        frame = await loop.run_in_executor(None, read_file, png)
        res = await gate.scan(frame, lane=rng.randrange(2), direction=direction)
        png.unlink(missing_ok=True)
        stats.scans += 1
        v = res.decision.verdict.value
        stats.by_verdict[v] = stats.by_verdict.get(v, 0) + 1
        if direction == "entry" and res.event.kind.value == "entry":
            stats.inside.append((gate.cfg.gate_id, payload))
    return stats
