"""`eventguard report` on an event driven through the real server: gate events over the gate
websocket, a density alert acknowledged and resolved, a dispatch from it acknowledged; the HTML
carries the numbers PostgreSQL holds, and no identities; `--pdf` prints the same page to a PDF
with Debian's chromium, its chart drawn."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from support import ARTIFACTS, Server, wait_for

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


CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()


def poppler(tool: str, *args: str) -> bytes:
    """The output of one of poppler-utils' tools (pdftotext, pdfinfo, pdftoppm)."""
    if shutil.which(tool) is None:
        pytest.skip(f"reading the PDF needs {tool} (apt-get install poppler-utils)")
    return subprocess.run([tool, *args], check=True, capture_output=True, timeout=60).stdout


def colour_pixels(ppm: bytes, rgb: tuple[int, int, int]) -> int:
    """How many pixels of a binary PPM (P6, 8 bit) are within 12 of `rgb` on every channel."""
    fields = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", ppm)
    assert fields, ppm[:20]
    body = ppm[fields.end():]
    return sum(1 for i in range(0, len(body) - 2, 3)
               if all(abs(body[i + k] - rgb[k]) <= 12 for k in range(3)))


def read_pdf(path: Path) -> tuple[int, str, bytes]:
    """A PDF's page count, its text (whitespace squeezed) and its first page as a PPM at 50 dpi."""
    assert path.read_bytes().startswith(b"%PDF-")
    pages = re.search(rb"^Pages:\s+(\d+)", poppler("pdfinfo", str(path)), re.M)
    assert pages, "pdfinfo found no pages"
    text = " ".join(poppler("pdftotext", "-layout", str(path), "-").decode().split())
    return int(pages.group(1)), text, poppler("pdftoppm", "-r", "50", "-f", "1", "-l", "1", str(path))


@pytest.mark.browser
async def test_the_report_prints_to_a_pdf_with_its_tables_and_chart(server: Server, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    if not HAVE_CHROMIUM:
        pytest.skip(f"the PDF needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    t0 = time.time() - 300  # five minutes of an event: entries at two gates, refusals at a third
    for minute, n in enumerate((30, 55, 80, 40)):
        await send(server, "N1", [{"kind": EventKind.ENTRY, "at": t0 + minute * 60 + i * 0.1, "verdict": "admit",
                                   "ticket_id": f"T-SECRET-{minute}-{i}"} for i in range(n)])
    await send(server, "S1", [{"kind": EventKind.ENTRY, "at": t0 + 90 + i, "verdict": "admit"} for i in range(25)])
    await send(server, "N2", [{"kind": EventKind.DENY, "at": t0 + 100, "verdict": "deny",
                               "reasons": ("ticket_revoked",)} for _ in range(4)])
    html, out = tmp_path / "report.html", tmp_path / "report.pdf"
    capsys.readouterr()
    rc = await asyncio.to_thread(main, ["report", "--event", "demo-2026", "--out", str(html), "--pdf", str(out),
                                        "--bucket-min", "1", "--database-url", server.db_url])
    printed = capsys.readouterr().out
    assert rc == 0 and f"PDF written to {out}" in printed, printed
    pages, text, ppm = await asyncio.to_thread(read_pdf, out)
    assert pages >= 1
    assert "After-action report — demo-2026" in text
    assert "N1 205 0 0 0 0" in text and "S1 25 0 0 0 0" in text and "N2 0 0 4 0 0" in text  # decisions per gate
    assert "North concourse (north)" in text and "lane decisions: ticket_revoked 4" in text
    assert "entries per 1 min" in text and "start of the interval (UTC)" in text  # the chart's axes
    assert "T-SECRET" not in text
    # the chart's bars are drawn: page 1 has N1's blue and S1's amber (the second gate with entries)
    assert colour_pixels(ppm, (0x1F, 0x6F, 0xEB)) > 200 and colour_pixels(ppm, (0xD2, 0x99, 0x22)) > 50
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "after-action-report.pdf").write_bytes(await asyncio.to_thread(out.read_bytes))


def test_the_pdf_without_a_renderer_is_refused_before_any_work(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "report.html"
    rc = main(["report", "--out", str(html), "--pdf", str(tmp_path / "r.pdf"), "--chromium", str(tmp_path / "none"),
               "--database-url", "postgresql://127.0.0.1:1/none"])
    err = capsys.readouterr().err
    assert rc == 2 and "no executable there to print the PDF with" in err and "apt-get install chromium" in err
    assert not html.exists()
