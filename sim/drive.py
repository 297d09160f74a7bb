"""Drive mode: a few simulated attendees through real gate services, faces and QR codes.

Each attendee is a person from the shared face photos (/work/shared/data/faces), registered
in PostgreSQL (a `registrations` row with the face embedding of *another* photo of that person
where the set has one, so the gate matches across photos) and holding a ticket
issued with issuing.issue bound to that registration. The gates are real GateService
instances (face_required=True) connected to the command server: they pull keys and registered
faces through the list sync, decide each 640x480 frame (the holder's face on the left, the
ticket's QR PNG as rendered by issuing.render_png on the right, as sim/frames.py composes
them) and stream their events up. Arrival times come from the scenario's arrival curve,
replayed `speedup` times faster than real time. Decisions are CPU-bound (~150 ms each).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from command import issuing
from command.provision import Provisioned
from eventguard.settings import REPO_ROOT
from gate.service import GateCache, GateConfig, GateService, ScanResult
from sim.arrivals import ArrivalPlan, sample_arrivals
from sim.frames import PEOPLE, Person, compose, embed_photo, load_person
from sim.scenario import Scenario
from vision.image import read_file

FACES_DIR = REPO_ROOT.parent / "shared" / "data" / "faces" / "images"


@dataclass
class DriveResult:
    """Decisions made by the real gates."""

    scans: list[dict[str, Any]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    stored: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-friendly figures (latency = ScanResult's capture-to-verdict time)."""
        lat = sorted(self.latencies_ms)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, round(q * (len(lat) - 1)))], 1) if lat else None

        verdicts: dict[str, int] = {}
        for s in self.scans:
            verdicts[s["verdict"]] = verdicts.get(s["verdict"], 0) + 1
        return {"decisions": len(self.scans), "verdicts": verdicts,
                "face_matched": sum(1 for s in self.scans if s["face_match"]),
                "latency_ms": {"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                               "max": lat[-1] if lat else None},
                "events_stored_by_server": self.stored, "wall_s": round(self.wall_s, 2),
                "scans": self.scans}


async def _register(conn: asyncpg.Connection, event_id: str, person: Person) -> str:
    rid = person.holder_ref
    await conn.execute(
        "INSERT INTO registrations (registration_id, event_id, id_hmac, id_last4, name, ticket_type,"
        " photo, encoding, model_id) VALUES ($1, $2, $3, '0000', $4, 'standard', 'shared-photo', $5, $6)",
        rid, event_id, uuid.uuid4().bytes * 2, f"sim {rid[:6]}", [float(x) for x in person.encoding],
        person.model_id)
    return rid


def arrival_times(scenario: Scenario, attendees: int, rng: np.random.Generator) -> list[float]:
    """Simulated arrival seconds of `attendees` people, from the scenario's curve."""
    p = scenario.sim
    plan = ArrivalPlan(total=attendees, duration_s=p.arrival_window_s,
                       peak_at_s=p.arrival_window_s - p.peak_before_start_s, spread_s=p.spread_s)
    dt = max(p.dt_s, p.arrival_window_s / 10_000)
    steps = int(np.ceil(p.arrival_window_s / dt))
    per_step = sample_arrivals(plan, [1], dt, steps, rng)[:, 0]
    return [float(k * dt) for k in np.repeat(np.arange(steps), per_step)]


async def run_drive(scenario: Scenario, *, url: str, dsn: str, prov: Provisioned, attendees: int = 3,
                    speedup: float = 600.0, gates: int = 2, seed: int = 0,
                    faces_dir: Path = FACES_DIR, sync_timeout_s: float = 30.0) -> DriveResult:
    """Scan `attendees` people at the first `gates` gates; returns decisions and latencies."""
    rng = np.random.default_rng(seed)
    venue = scenario.venue
    people = []
    for i in range(attendees):
        scanned, _, other = PEOPLE[i % len(PEOPLE)]
        p = load_person(faces_dir / scanned)
        enc = p.encoding  # registered from another photo of the same person where there is one
        if other is not None:
            found = embed_photo(faces_dir / other)
            enc = found if found is not None else enc
        people.append(Person(uuid.uuid4().hex, p.crop, p.face_px, enc, p.model_id))
    work = Path(tempfile.mkdtemp(prefix="eventguard-drive-"))
    gate_list = venue.gates[:max(1, gates)]
    conn = await asyncpg.connect(dsn)
    frames = []
    count_sql = "SELECT count(*) FROM gate_events WHERE gate_id = ANY($1::text[])"
    try:
        before = int(await conn.fetchval(count_sql, [g.id for g in gate_list]))
        now = int(time.time())
        for i, person in enumerate(people):
            rid = await _register(conn, venue.event.id, person)
            _, payload = await issuing.issue(conn, event_id=venue.event.id, key_id=prov.key_id,
                                               key=prov.key, valid_from=now - 3600,
                                               valid_until=now + 12 * 3600, now=now, holder_ref=rid)
            png = issuing.render_png(payload, work / f"ticket-{i}.png", scale=3)
            frames.append(compose(person.crop, read_file(png)))
    finally:
        await conn.close()
    services = []
    res = DriveResult()
    try:
        for g in gate_list:
            cfg = GateConfig(gate_id=g.id, event_id=venue.event.id,
                             server_url=url.replace("http", "ws", 1) + "/ws/gate",
                             token=prov.gate_tokens[g.id], journal_path=work / f"{g.id}.sqlite",
                             face_required=True, workers=1)
            svc = GateService(cfg, GateCache())
            await svc.start()
            services.append(svc)
        wanted = {p.holder_ref for p in people}
        deadline = time.monotonic() + sync_timeout_s
        while not all(wanted <= set(s.cache.holders) and s.cache.keys for s in services):
            if time.monotonic() > deadline:
                raise TimeoutError("gates did not receive the registrations by list sync")
            await asyncio.sleep(0.1)
        await services[0].warm_up()
        times = arrival_times(scenario, attendees, rng)
        t0 = time.monotonic()
        start = time.time()
        for i, (t_sim, frame) in enumerate(zip(times, frames, strict=True)):
            await asyncio.sleep(max(0.0, t0 + (t_sim - times[0]) / speedup - time.monotonic()))
            svc = services[i % len(services)]
            r: ScanResult = await svc.scan(frame, lane=0, direction="entry")
            res.latencies_ms.append(r.event.latency_ms or sum(r.stage_ms.values()))
            res.scans.append({"gate": svc.cfg.gate_id, "t_sim_s": round(t_sim, 1),
                              "verdict": r.decision.verdict.value,
                              "reasons": [x.value for x in r.decision.reasons],
                              "face_distance": r.face_distance,
                              "face_match": r.face_distance is not None
                              and r.face_distance <= svc.thresholds.verify,
                              "latency_ms": round(res.latencies_ms[-1], 1),
                              "stage_ms": {k: round(v, 1) for k, v in r.stage_ms.items()}})
        deadline = time.monotonic() + 15
        while any(s.journal.pending() for s in services) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a file
            await asyncio.sleep(0.1)
        res.wall_s = time.time() - start
        conn = await asyncpg.connect(dsn)
        try:
            res.stored = int(await conn.fetchval(count_sql, [g.id for g in gate_list])) - before
        finally:
            await conn.close()
    finally:
        for s in services:
            await s.stop()
    return res
