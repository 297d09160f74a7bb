"""`eventguard report` on an event driven through the real server: gate events over the gate
websocket, a density alert acknowledged and resolved, a dispatch from it acknowledged; the HTML
carries the numbers PostgreSQL holds, and no identities."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from support import Server, wait_for

from command.after_action import replay_peaks
from eventguard.wire import (
    BatchAck,
    EventBatch,
    EventKind,
    GateEvent,
    decode_server_message,
    encode,
)
from shell.cli import main


async def send(server: Server, gate: str, events: list[dict[str, Any]]) -> None:
    batch = tuple(GateEvent(event_id=f"{gate}:{uuid.uuid4().hex}", gate_id=gate, **e) for e in events)
    async with websockets.connect(f"{server.ws_url}/ws/gate", additional_headers={
            "Authorization": f"Bearer {server.gate_tokens[gate]}"}) as ws:
        await ws.recv()  # welcome
        await ws.send(encode(EventBatch(batch_id=uuid.uuid4().hex, events=batch)).decode())
        while True:
            msg = decode_server_message(await ws.recv())
            if isinstance(msg, BatchAck):
                assert msg.stored == len(batch)
                return


async def rest(server: Server, method: str, path: str, token: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as s, s.request(method, f"{server.url}{path}", json=body,
                                                       headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status < 300, await r.text()
        return await r.json()


def test_peaks_are_replayed_in_time_order() -> None:
    zones = [("a", "A", 10.0, 50), ("b", "B", 20.0, 50)]
    stream = [(1, "entry", "a", None, None), (2, "entry", "a", None, None), (3, "transfer", None, "a", "b"),
              (4, "exit", "a", None, None), (5, "exit", "a", None, None), (6, "entry", "a", None, None),
              (7, "transfer", None, "x", "b")]  # an unknown zone moves nothing
    got = {p.zone: (p.peak, p.peak_at, p.density) for p in replay_peaks(stream, zones)}
    assert got == {"a": (2, 2, 0.2), "b": (1, 3, 0.05)}


async def test_the_report_renders_the_numbers_the_database_holds(server: Server, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.time() - 30
    await send(server, "N1", [{"kind": EventKind.ENTRY, "at": t0 + i * 0.01, "verdict": "admit",
                               "ticket_id": f"T-SECRET-{i}"} for i in range(140)])
    op = await server.login("operator")
    alerts: list[Any] = []

    async def raised() -> bool:
        alerts[:] = [a for a in await rest(server, "GET", "/api/alerts", op) if a["subject"] == "north"]
        return bool(alerts)

    await wait_for(raised, within=15)  # 140 people on the 60 m² north concourse
    alert_id = alerts[0]["id"]
    await send(server, "N1", [{"kind": EventKind.EXIT, "at": t0 + 5 + i * 0.01} for i in range(10)]
               + [{"kind": EventKind.TRANSFER, "at": t0 + 6 + i * 0.01, "zone_from": "north", "zone_to": "bowl"}
                  for i in range(20)])
    await send(server, "S1", [{"kind": EventKind.DENY, "at": t0 + 7, "verdict": "deny",
                               "reasons": ("ticket_revoked",)} for _ in range(3)])
    await send(server, "N2", [{"kind": EventKind.SECONDARY, "at": t0 + 8, "verdict": "secondary",
                               "reasons": ("watchlist_info",)} for _ in range(2)])
    await rest(server, "POST", f"/api/alerts/{alert_id}/ack", op)
    await rest(server, "POST", "/api/units/new", op, {"id": "ST-1", "kind": "steward", "name": "Stewards 1"})
    order = await rest(server, "POST", "/api/orders", op, {"kind": "dispatch", "target": "ST-1",
                                                          "location": "north", "alert_id": alert_id})
    await rest(server, "POST", f"/api/orders/{order['order_id']}/ack", op)
    await rest(server, "POST", f"/api/alerts/{alert_id}/resolve", op)

    out = tmp_path / "report.html"
    capsys.readouterr()
    rc = await asyncio.to_thread(main, ["report", "--event", "demo-2026", "--out", str(out),
                                        "--database-url", server.db_url])
    printed = capsys.readouterr().out
    assert rc == 0 and f"written to {out}" in printed and "140 entries" in printed
    page = out.read_text()

    conn = await asyncpg.connect(server.db_url)
    try:
        in_db = {r["gate_id"] + r["kind"]: r["n"] for r in await conn.fetch(
            "SELECT gate_id, kind, count(*) AS n FROM gate_events GROUP BY 1, 2")}
        row = await conn.fetchrow("SELECT acknowledged_at - raised_at AS ack, resolved_at - raised_at AS res"
                                  " FROM alerts WHERE id = $1", alert_id)
    finally:
        await conn.close()
    assert in_db == {"N1entry": 140, "N1exit": 10, "N1transfer": 20, "S1deny": 3, "N2secondary": 2}

    def table(name: str) -> list[list[str]]:
        body = re.search(rf'<table class="{name}">.*?<tbody>(.*?)</tbody>', page, re.S)
        assert body, name
        return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body.group(1))]

    assert ["N1", "140", "10", "0", "0", "20"] in table("totals")
    assert ["S1", "0", "0", "3", "0", "0"] in table("totals")
    assert [r[-1] for r in table("entries") if r[0] == "N1"] == ["140"]
    peaks = {r[0]: r[3:5] for r in table("peaks")}
    assert peaks["North concourse (north)"] == ["140", "2.33"]  # 140 people on 60 m²
    assert peaks["Bowl (bowl)"] == ["20", "0.02"]
    [a] = [r for r in table("alerts") if r[0] == str(alert_id)]
    assert a[1:4] == ["density_warning", "warning", "north"] and a[-1] == "resolved"
    assert a[5] == f"{row['ack'].total_seconds():.0f} s" and a[6] == f"{row['res'].total_seconds():.0f} s"
    [o] = table("orders")
    assert o[:5] == [str(order["order_id"]), "dispatch", "ST-1", "north", f"#{alert_id}"] and o[-1] == "acknowledged"
    assert dict(map(tuple, table("screening"))) == {"lane decisions: ticket_revoked": "3",
                                                     "lane decisions: watchlist_info": "2"}
    assert "T-SECRET" not in page  # no identities
