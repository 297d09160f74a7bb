"""Evacuation (issue 20): coverage, egress routes, progress, the two-step confirmation and the
gate rule without I/O (tables); then on the real server with real gate services: a commander
declares it for one zone in two steps, that zone's gates let people out without a ticket and
refuse entries (learned through the list sync, kept across a restart), the others do not; it
ends; every step is audited. An idle server does not read the evacuation every second; one
declared by another server reaches its live maps by NOTIFY, after a database restart too."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import cv2
import numpy as np
import pytest
import websockets
from support import Server, start_gate, ticket_png, wait_for

from command import evacuation
from command.db.embedded import EmbeddedPostgres
from eventguard.codes import Reason, Verdict
from eventguard.config import Venue
from eventguard.wire import EvacuationUpdate, decode_server_message
from gate.decide import GateState, decide
from vision.image import read_file

# ---- pure ------------------------------------------------------------------------------------


def test_an_evacuation_covers_its_zones_gates_and_routes(venue: Venue) -> None:
    assert evacuation.covered_zones(venue, ()) == ("north", "south", "bowl")
    assert evacuation.affected_gates(venue, ("north",)) == ("N1", "N2")
    assert evacuation.affected_gates(venue, ("bowl",)) == ()  # the bowl has no gate of its own
    routes = {r.zone: r for r in evacuation.egress_routes(venue, ())}
    assert routes["north"] == evacuation.Route("north", ("north",), ("N1", "N2"), 0.0)
    # from the bowl the nearest zone with gates, by walking distance (both 6 m: the first by id)
    assert routes["bowl"].path in (("bowl", "north"), ("bowl", "south")) and routes["bowl"].length_m == 6.0


@pytest.mark.parametrize(("start", "now", "expect"), [
    ({"north": 100, "bowl": 0}, {"north": 25, "bowl": 3}, {"north": 0.75, "bowl": 1.0}),
    ({"north": 10}, {"north": 12}, {"north": 0.0}),  # more came in: no progress, never negative
    ({"north": 10}, {}, {"north": 1.0}),
])
def test_progress_is_the_share_of_the_people_at_the_declaration_who_are_out(
        start: dict[str, int], now: dict[str, int], expect: dict[str, float]) -> None:
    assert evacuation.progress(start, now) == expect


def test_a_confirmation_code_is_good_once_for_its_commander_within_two_minutes() -> None:
    box = evacuation.Confirmations()
    rng = random.Random(1)
    p = box.prepare("chief", ("north",), "fire in north", 100.0, rng)
    assert box.take(p.code, "other", 110.0) is None  # another commander
    assert box.take(p.code, "chief", 100.0 + evacuation.CONFIRM_WITHIN_S) is None  # too late
    q = box.prepare("chief", (), "", 200.0, rng)  # preparing again replaces the chief's earlier one
    assert p.code not in box.pending
    assert box.take(q.code, "chief", 210.0) == q
    assert box.take(q.code, "chief", 211.0) is None  # once


@pytest.mark.parametrize(("direction", "ticket", "expect"), [
    ("exit", None, (Verdict.ADMIT, (Reason.FREE_EXIT,))),  # no ticket needed to get out
    ("entry", None, (Verdict.DENY, (Reason.EVACUATION,))),
])
def test_an_evacuating_gate_lets_everyone_out_and_nobody_in(direction: str, ticket: None,
                                                             expect: tuple[Verdict, tuple[Reason, ...]]) -> None:
    d = decide(ticket, None, (), GateState(evacuating=True, direction=direction, lane_open=False, entry_open=False))
    assert (d.verdict, d.reasons) == expect


# ---- on the real server --------------------------------------------------------------------------


async def _call(server: Server, who: str, method: str, path: str, body: object = None) -> tuple[int, dict]:
    token = await server.login(who)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s, \
            s.request(method, f"{server.url}{path}", json=body) as r:
        return r.status, await r.json()


async def test_declared_for_a_zone_its_gates_free_the_exits_and_refuse_entries_until_it_ends(
        server: Server, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
    n1 = await start_gate(server, "N1", tmp_path / "n1")
    s1 = await start_gate(server, "S1", tmp_path / "s1")
    try:
        _, ticket = await ticket_png(server, tmp_path, None)
        assert (await _call(server, "operator", "POST", "/api/evacuation/prepare", {"zones": ["north"]}))[0] == 403
        st, err = await _call(server, "commander", "POST", "/api/evacuation/prepare", {"zones": ["moon"]})
        assert (st, err.get("field")) == (400, "zones[0]")
        st, prep = await _call(server, "commander", "POST", "/api/evacuation/prepare",
                               {"zones": ["north"], "note": "Smoke in the north concourse"})
        assert st == 200 and (prep["zones"], prep["gates"], prep["whole_venue"]) == (["north"], ["N1", "N2"], False)
        assert not n1.cache.evacuating  # nothing happens before the second step
        assert (await _call(server, "commander", "POST", "/api/evacuation/declare", {"confirm": "0" * 8}))[0] == 409
        st, state = await _call(server, "commander", "POST", "/api/evacuation/declare", {"confirm": prep["confirm"]})
        assert st == 201 and state["active"] and state["gates"] == ["N1", "N2"]
        assert state["routes"] == [{"zone": "north", "path": ["north"], "exit_gates": ["N1", "N2"], "length_m": 0.0}]
        assert (await _call(server, "commander", "POST", "/api/evacuation/declare", {"confirm": prep["confirm"]}))[0] == 409

        await wait_for(lambda: n1.cache.evacuating, within=10)
        assert n1.cache.evacuation_note == "Smoke in the north concourse" and not s1.cache.evacuating
        out = await n1.scan(read_file(blank), direction="exit")  # no ticket at all
        assert (out.decision.verdict, out.event.reasons) == ("admit", ("free_exit",))
        refused = await n1.scan(read_file(ticket))
        assert (refused.decision.verdict, refused.event.reasons) == ("deny", ("evacuation",))
        assert (await s1.scan(read_file(blank), direction="exit")).decision.verdict == "deny"  # south: normal checks
    finally:
        await n1.stop()
    n1 = await start_gate(server, "N1", tmp_path / "n1")  # a restarted gate remembers, offline too
    try:
        assert n1.cache.evacuating
        st, state = await _call(server, "viewer", "GET", "/api/evacuation")
        assert st == 200 and state["zones_covered"] == ["north"] and "progress" in state
        assert (await _call(server, "commander", "POST", "/api/evacuation/end"))[0] == 200
        assert (await _call(server, "commander", "POST", "/api/evacuation/end"))[0] == 409
        await wait_for(lambda: not n1.cache.evacuating, within=10)
        assert (await n1.scan(read_file(ticket))).decision.verdict == "admit"
    finally:
        await n1.stop()
        await s1.stop()
    conn = await asyncpg.connect(server.db_url)
    try:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE action LIKE 'evacuation_%' ORDER BY id")]
    finally:
        await conn.close()
    assert actions == ["evacuation_prepare", "evacuation_declare", "evacuation_end"]


async def test_the_twin_forecasts_with_the_evacuated_gates_admitting_nobody(twin_server: Server) -> None:
    from command.appkeys import TWIN

    _, prep = await _call(twin_server, "commander", "POST", "/api/evacuation/prepare", {"zones": ["north"]})
    assert (await _call(twin_server, "commander", "POST", "/api/evacuation/declare", {"confirm": prep["confirm"]}))[0] == 201
    inp, _ = await twin_server.app[TWIN]._input()
    assert inp.gates_closed == {"N1", "N2"}


# ---- learned by LISTEN, not by reading the table every second ------------------------------------------


async def test_an_idle_server_does_not_read_the_evacuation_every_second_and_hears_another_servers(
        server: Server, pg: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle, the server reads event_evacuation no more (it read it at start); an evacuation that
    another server declares and ends (straight in the database: its NOTIFY is all this server
    hears) reaches a live map at once, and again after PostgreSQL restarted."""
    from command.evacuation_api import EVACUATION, EVACUATION_FEED, RECHECK_S

    reads: list[str] = []
    read_row = evacuation.current

    async def counted(conn: asyncpg.Connection, event_id: str) -> dict[str, Any] | None:
        reads.append(event_id)
        return await read_row(conn, event_id)

    monkeypatch.setattr(evacuation, "current", counted)  # the seam: every read of event_evacuation
    feed = server.app[EVACUATION_FEED]
    await wait_for(lambda: feed.listening.is_set() and server.app[EVACUATION].known, within=10)
    await asyncio.sleep(1.0)  # the read after the LISTEN connection came up
    reads.clear()
    await asyncio.sleep(3.5)
    assert reads == [] and RECHECK_S > 3.5  # it read the row every second before

    token = await server.login("viewer")
    event_id = server.venue.event.id
    conn = await asyncpg.connect(server.db_url)
    try:
        async with websockets.connect(f"{server.ws_url}/ws/live",
                                      additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            async def evacuation_pushed(active: bool, within: float = 3.0) -> EvacuationUpdate:
                deadline = time.monotonic() + within
                while True:
                    m = decode_server_message(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                    if isinstance(m, EvacuationUpdate) and m.active is active and m.declared_by == "chief@B":
                        return m
            async with conn.transaction():  # as another server declares it
                await evacuation.declare(conn, event_id, ("north",), "Smoke (B)", "chief@B", {"north": 4})
            m = await evacuation_pushed(True)
            assert (m.zones_covered, m.gates, m.note) == (("north",), ("N1", "N2"), "Smoke (B)")
            assert 1 <= len(reads) <= 2  # read on the notification, not before
            await evacuation.end(conn, event_id, "chief@B")
            assert (await evacuation_pushed(False)).ended_by == "chief@B"
    finally:
        await conn.close()

    await asyncio.to_thread(pg.stop, "fast")  # PostgreSQL restarts: the LISTEN connection is lost
    await wait_for(lambda: not feed.listening.is_set(), within=10)
    await asyncio.to_thread(pg.start)
    await wait_for(lambda: feed.listening.is_set(), within=20)
    conn = await asyncpg.connect(server.db_url)
    try:
        async with websockets.connect(f"{server.ws_url}/ws/live",
                                      additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            await evacuation.declare(conn, event_id, (), "Whole venue (B)", "chief@B", {})
            deadline = time.monotonic() + 5.0
            while True:
                m = decode_server_message(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                if isinstance(m, EvacuationUpdate) and m.active:
                    break
            assert m.zones_covered == ("north", "south", "bowl") and m.note == "Whole venue (B)"
    finally:
        await conn.close()
