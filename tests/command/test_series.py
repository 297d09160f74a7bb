"""command/series.py: History (pure, no loop) keeps ten minutes of rows per zone and gate and names
the ids whose reading moved since the previous sample; the server sends those to live maps again,
so a rate falling with time alone reaches them (real server, /ws/live)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import websockets
from support import Server, send_entries

from command.appkeys import SERVICE
from command.series import History
from eventguard.codes import LOS
from eventguard.wire import (
    GatesUpdate,
    GateView,
    Snapshot,
    ZonesUpdate,
    ZoneView,
    decode_server_message,
)


def zone(occupancy: int, inflow: float) -> ZoneView:
    return ZoneView(id="north", name="North", capacity=150, area_m2=60, occupancy=occupancy, density=0.0,
                    los=LOS.A, inflow_per_min=inflow, outflow_per_min=0.0)


def gate(rate: float, queue: float = 0.0) -> GateView:
    return GateView(id="N1", name="North 1", zone="north", lanes=2, entries=0, exits=0, entries_per_min=rate,
                    queue=queue)


@pytest.mark.parametrize(("readings", "moved"), [
    ([(0, 0.0, 0.0, 0.0)], [(set(), set())]),  # a first reading has nothing to differ from
    ([(0, 6.0, 0.0, 0.0), (2, 6.0, 0.0, 0.0)], [(set(), set()), (set(), set())]),
    ([(0, 6.0, 0.0, 0.0), (2, 0.0, 0.0, 0.0)], [(set(), set()), (set(), {"N1"})]),  # the gate's rate fell
    ([(0, 6.0, 1.0, 0.0), (2, 6.0, 3.0, 0.0)], [(set(), set()), (set(), {"N1"})]),  # its queue grew
    ([(0, 0.0, 0.0, 4.0), (2, 0.0, 0.0, 0.0)], [(set(), set()), ({"north"}, set())]),  # the zone's inflow fell
    ([(0, 6.04, 0.0, 0.0), (2, 6.01, 0.0, 0.0)], [(set(), set()), (set(), set())]),  # the same to a tenth
])
def test_readings_that_moved_are_named(readings: list[tuple[float, float, float, float]],
                                       moved: list[tuple[set[str], set[str]]]) -> None:
    h = History()
    got = [h.add(t, [zone(3, inflow)], [gate(rate, queue)]) for t, rate, queue, inflow in readings]
    assert got == moved


def test_ten_minutes_are_kept_in_the_wire_form() -> None:
    h = History(window_s=600)
    for t in range(0, 700, 2):
        h.add(float(t), [zone(t // 10, 1.0)], [gate(float(t % 7))])
    wire = h.to_wire()
    rows = wire["gates"]["N1"]  # type: ignore[index]
    assert wire["gate_columns"] == ["at", "entries_per_min", "queue"]
    assert rows[0][0] == 98.0 and rows[-1] == [698.0, 5.0, 0.0] and len(rows) == 301
    assert wire["zones"]["north"][-1] == [698.0, 69, 1.0]  # type: ignore[index]


async def next_of(live: Any, kind: type, pred: Any, within: float) -> Any:
    async with asyncio.timeout(within):
        while True:
            m = decode_server_message(await live.recv())
            if isinstance(m, kind) and pred(m):
                return m


async def test_a_gate_that_stops_admitting_falls_to_zero_on_live_maps(server: Server,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    token = await server.login("viewer")
    async with websockets.connect(f"{server.ws_url}/ws/live",
                                  additional_headers={"Authorization": f"Bearer {token}"}) as live:
        assert isinstance(decode_server_message(await live.recv()), Snapshot)
        await send_entries(server, "N1", 5)
        await next_of(live, GatesUpdate, lambda m: any(g.id == "N1" and g.entries_per_min == 5 for g in m.gates), 10)
        # a minute later and nobody else came: no event, but the next sample (every 2 s) sees the
        # rates fall and the maps hear of it
        monkeypatch.setattr(server.app[SERVICE], "clock", lambda: time.time() + 61)
        await next_of(live, GatesUpdate, lambda m: any(g.id == "N1" and g.entries_per_min == 0 for g in m.gates), 6)
        await next_of(live, ZonesUpdate, lambda m: any(z.id == "north" and z.inflow_per_min == 0 and z.occupancy == 5
                                                       for z in m.zones), 6)
