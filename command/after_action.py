"""After-action report of an event: what the database recorded, gathered by thin queries and
rendered as one self-contained HTML page by a pure function (no identities: no names, ticket or
registration ids, watchlist entries — counts only).

Occupancy is replayed from the stored gate events in time order (entries into the gate's zone,
exits out of it, transfers between zones), the same counting the command server does live;
peak density is the peak occupancy over the zone's area.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class ZonePeak:
    """A zone's peak occupancy and density, and when."""

    zone: str
    name: str
    area_m2: float
    capacity: int
    peak: int
    peak_at: float | None

    @property
    def density(self) -> float:
        """Peak persons per square metre."""
        return self.peak / self.area_m2


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the after-action page shows."""

    event_id: str
    generated_at: float
    bucket_s: int
    entries: dict[str, dict[float, int]]  # gate -> bucket start -> entries
    gate_totals: dict[str, dict[str, int]]  # gate -> kind -> count
    peaks: list[ZonePeak]
    alerts: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    screening: dict[str, int]  # what screening found, counted
    first_at: float | None = None
    last_at: float | None = None
    units: dict[str, int] = field(default_factory=dict)  # unit kind -> units


def _ts(v: datetime | None) -> float | None:
    return v.timestamp() if v is not None else None


def replay_peaks(events: Iterable[tuple[float, str, str | None, str | None, str | None]],
                 zones: Sequence[tuple[str, str, float, int]]) -> list[ZonePeak]:
    """Pure: (at, kind, gate's zone, zone_from, zone_to) in time order -> each zone's peak."""
    occ = {z[0]: 0 for z in zones}
    peak: dict[str, tuple[int, float | None]] = {z[0]: (0, None) for z in zones}
    for at, kind, gate_zone, zone_from, zone_to in events:
        touched: list[str] = []
        if kind == "entry" and gate_zone in occ:
            occ[gate_zone] += 1
            touched.append(gate_zone)
        elif kind == "exit" and gate_zone in occ:
            occ[gate_zone] = max(0, occ[gate_zone] - 1)
        elif kind == "transfer" and zone_from in occ and zone_to in occ:
            occ[zone_from] = max(0, occ[zone_from] - 1)
            occ[zone_to] += 1
            touched.append(zone_to)
        for z in touched:
            if occ[z] > peak[z][0]:
                peak[z] = (occ[z], at)
    return [ZonePeak(zid, name, area, cap, peak[zid][0], peak[zid][1]) for zid, name, area, cap in zones]


async def gather(conn: asyncpg.Connection, event_id: str, *, bucket_s: int = 300,
                 now: float | None = None) -> Report:
    """Read what the report needs from the event's database."""
    every = timedelta(seconds=int(bucket_s))
    rows = await conn.fetch(
        "SELECT gate_id, date_bin($1::interval, at, timestamptz 'epoch') AS t, count(*) AS n FROM gate_events"
        " WHERE kind = 'entry' GROUP BY 1, 2 ORDER BY 1, 2", every)
    entries: dict[str, dict[float, int]] = {}
    for r in rows:
        entries.setdefault(r["gate_id"], {})[r["t"].timestamp()] = r["n"]
    totals: dict[str, dict[str, int]] = {}
    for r in await conn.fetch("SELECT gate_id, kind, count(*) AS n FROM gate_events GROUP BY 1, 2"):
        totals.setdefault(r["gate_id"], {})[r["kind"]] = r["n"]
    zones = [(r["id"], r["name"], r["area_m2"], r["capacity"])
             for r in await conn.fetch("SELECT id, name, area_m2, capacity FROM zones ORDER BY id")]
    stream = await conn.fetch(
        "SELECT e.at, e.kind, g.zone_id, e.zone_from, e.zone_to FROM gate_events e"
        " LEFT JOIN gates g ON g.id = e.gate_id WHERE e.kind IN ('entry', 'exit', 'transfer')"
        " ORDER BY e.at, e.received_at")
    peaks = replay_peaks(((r["at"].timestamp(), r["kind"], r["zone_id"], r["zone_from"], r["zone_to"])
                          for r in stream), zones)
    span = await conn.fetchrow("SELECT min(at) AS a, max(at) AS b FROM gate_events")
    alerts = [{"id": r["id"], "kind": r["kind"], "level": r["level"], "subject": r["subject"],
               "status": r["status"], "raised_at": _ts(r["raised_at"]),
               "ack_s": _since(r["raised_at"], r["acknowledged_at"]),
               "resolve_s": _since(r["raised_at"], r["resolved_at"]), "value": r["value"]}
              for r in await conn.fetch("SELECT * FROM alerts ORDER BY raised_at, id")]
    incidents = [{"id": r["id"], "kind": r["kind"], "severity": r["severity"], "location": r["location"],
                  "status": r["status"], "opened_at": _ts(r["opened_at"]),
                  "closed_s": _since(r["opened_at"], r["closed_at"])}
                 for r in await conn.fetch("SELECT * FROM incidents ORDER BY id")]
    orders = [{"id": r["id"], "kind": r["kind"], "target": r["target"], "location": r["location"],
               "status": r["status"], "alert_id": r["alert_id"], "issued_at": _ts(r["issued_at"]),
               "issued_by": r["issued_by"], "ack_by": r["ack_by"], "ack_s": _since(r["issued_at"], r["ack_at"])}
              for r in await conn.fetch("SELECT * FROM orders ORDER BY id")]
    screening: dict[str, int] = {}
    for r in await conn.fetch("SELECT severity, count(*) AS n FROM watchlist_hits GROUP BY 1"):
        screening[f"watchlist hits ({r['severity']})"] = r["n"]
    for r in await conn.fetch("SELECT unnest(reasons) AS reason, count(*) AS n FROM gate_events"
                              " WHERE kind IN ('deny', 'secondary') GROUP BY 1 ORDER BY 1"):
        screening[f"lane decisions: {r['reason']}"] = r["n"]
    units = {r["kind"]: r["n"] for r in await conn.fetch("SELECT kind, count(*) AS n FROM units GROUP BY 1")}
    return Report(event_id=event_id, generated_at=now if now is not None else datetime.now(UTC).timestamp(),
                  bucket_s=bucket_s, entries=entries, gate_totals=totals, peaks=peaks, alerts=alerts,
                  incidents=incidents, orders=orders, screening=screening,
                  first_at=_ts(span["a"]), last_at=_ts(span["b"]), units=units)


def _since(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a is not None and b is not None else None


# ---- rendering (pure) ------------------------------------------------------------------------

_CSS = """body{font:14px system-ui,sans-serif;margin:2rem;color:#1f2328}h1{margin:0}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}.muted{color:#656d76}
svg.chart{display:block;width:100%;max-width:720px;height:auto;background:#f6f8fa;margin-bottom:1rem}
@page{size:A4;margin:12mm}
@media print{body{margin:0;font-size:11px}h2{break-after:avoid}tr,svg{break-inside:avoid}
thead{display:table-header-group}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}"""
# The page loads nothing and runs nothing: styles inline, charts as inline SVG (so a PDF printer
# draws them without waiting for any script).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _t(v: float | None) -> str:
    return datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if v is not None else "—"


def _hm(v: float | None) -> str:
    return datetime.fromtimestamp(v, UTC).strftime("%H:%M") if v is not None else "—"


def _dur(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], cls: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_e(h)}</th>" for h in head)
            + f"</tr></thead><tbody>{body}</tbody></table>")


def _nice_top(top: int) -> float:
    """The axis maximum: the smallest 1, 2, 2.5 or 5 × 10^k at or above `top` (at least 4)."""
    top = max(4, top)
    scale = 1.0
    while True:
        for m in (1.0, 2.0, 2.5, 5.0):
            if m * scale >= top:
                return m * scale
        scale *= 10


def _chart(entries: dict[str, dict[float, int]], bucket_s: int) -> str:
    """Entries per gate over time as grouped bars with labelled axes (inline SVG, no scripts)."""
    times = sorted({t for per in entries.values() for t in per})
    if not times:
        return '<p class="muted">No entries recorded.</p>'
    gates = sorted(entries)
    top = _nice_top(max(n for per in entries.values() for n in per.values()))
    left, right, above, below = 52, 8, 26, 40  # margins around the plot, for the axes' labels
    w, h = 720, 200  # the plot area
    group = w / len(times)
    bar = group / (len(gates) + 1)
    every = max(1, -(-len(times) * 40 // w))  # one time label per 40 px at most
    colours = ["#1f6feb", "#d29922", "#2ea043", "#bf3989", "#8250df", "#cf222e"]
    unit = f"entries per {bucket_s // 60} min" if bucket_s % 60 == 0 else f"entries per {bucket_s} s"
    width, height = left + w + right, above + h + below
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
             f' aria-label="{_e(unit)} at each gate over time" font-family="sans-serif">',
             f'<g transform="translate({left},{above})">']
    for k in range(5):  # y axis: ticks and grid lines at quarters of the top
        v = top * k / 4
        y = h - h * k / 4
        parts.append(f'<line x1="0" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
                     f'<text x="-6" y="{y + 3.5:.1f}" font-size="10" text-anchor="end">{v:g}</text>')
    parts.append(f'<text transform="translate(-40,{h / 2:.0f}) rotate(-90)" font-size="11" text-anchor="middle">'
                 f"{_e(unit)}</text>")
    for i, t in enumerate(times):
        for j, g in enumerate(gates):
            n = entries[g].get(t, 0)
            bh = h * n / top
            parts.append(f'<rect x="{i * group + (j + 0.5) * bar:.1f}" y="{h - bh:.1f}" width="{bar:.1f}"'
                         f' height="{bh:.1f}" fill="{colours[j % len(colours)]}"><title>{_e(g)} {_hm(t)}: {n}'
                         "</title></rect>")
        if i % every == 0:
            parts.append(f'<text x="{i * group:.1f}" y="{h + 14}" font-size="10">{_hm(t)}</text>')
    parts.append(f'<line x1="0" x2="{w}" y1="{h}" y2="{h}" stroke="#656d76"/>'
                 f'<text x="{w / 2:.0f}" y="{h + 32}" font-size="11" text-anchor="middle">'
                 "start of the interval (UTC)</text>")
    for j, g in enumerate(gates):  # legend above the plot
        parts.append(f'<text x="{j * 80}" y="-10" font-size="11" fill="{colours[j % len(colours)]}">■ {_e(g)}</text>')
    parts.append("</g></svg>")
    return "".join(parts)


COLUMNS = 12  # intervals per table of entries (an hour at 5 min)


def _columns(times: list[float]) -> list[tuple[list[float], bool]]:
    """The intervals cut into tables of at most COLUMNS, each with whether it is the last."""
    parts = [times[i:i + COLUMNS] for i in range(0, len(times), COLUMNS)] or [[]]
    return [(part, i == len(parts) - 1) for i, part in enumerate(parts)]


def render_html(r: Report) -> str:
    """The report as one self-contained HTML page."""
    times = sorted({t for per in r.entries.values() for t in per})
    gates = sorted(set(r.entries) | set(r.gate_totals))
    per_time = "".join(  # at most COLUMNS intervals a table, so a long event fits a page's width
        _table(["gate", *[_hm(t) for t in part], *(["total"] if last else [])],
               ([g, *[r.entries.get(g, {}).get(t, 0) for t in part],
                 *([sum(r.entries.get(g, {}).values())] if last else [])] for g in gates), "entries")
        for part, last in _columns(times))
    totals = _table(["gate", "entries", "exits", "denied", "second check", "transfers"],
                    ([g, *(r.gate_totals.get(g, {}).get(k, 0) for k in ("entry", "exit", "deny", "secondary",
                                                                       "transfer"))] for g in gates), "totals")
    peaks = _table(["zone", "area m²", "capacity", "peak people", "peak density p/m²", "at"],
                   ([f"{p.name} ({p.zone})", f"{p.area_m2:g}", p.capacity, p.peak, f"{p.density:.2f}",
                     _t(p.peak_at)] for p in r.peaks), "peaks")
    alerts = _table(["#", "kind", "level", "subject", "raised", "to acknowledge", "to resolve", "status"],
                    ([a["id"], a["kind"], a["level"], a["subject"], _t(a["raised_at"]), _dur(a["ack_s"]),
                      _dur(a["resolve_s"]), a["status"]] for a in r.alerts), "alerts")
    incidents = _table(["#", "kind", "severity", "location", "opened", "to close", "status"],
                       ([i["id"], i["kind"], i["severity"], i["location"], _t(i["opened_at"]),
                         _dur(i["closed_s"]), i["status"]] for i in r.incidents), "incidents")
    orders = _table(["#", "kind", "to", "where", "alert", "issued", "by", "to acknowledge", "acknowledged by",
                     "status"],
                    ([o["id"], o["kind"], o["target"], o["location"] or "—",
                      f"#{o['alert_id']}" if o["alert_id"] else "—", _t(o["issued_at"]), o["issued_by"],
                      _dur(o["ack_s"]), o["ack_by"] or "—", o["status"]] for o in r.orders), "orders")
    screening = _table(["what", "count"], sorted(r.screening.items()), "screening")
    units = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(r.units.items())) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>After-action report — {_e(r.event_id)}</title>
<style>{_CSS}</style></head><body>
<h1>After-action report — {_e(r.event_id)}</h1>
<p class="muted">Generated {_t(r.generated_at)} from the event's database. Gate events from {_t(r.first_at)}
to {_t(r.last_at)}; entries in {r.bucket_s // 60}-minute intervals. Units: {_e(units)}.
No names, ticket or registration ids are included.</p>
<h2 id="entries">Entries per gate over time</h2>{_chart(r.entries, r.bucket_s)}{per_time}
<h2 id="gates">Decisions per gate</h2>{totals}
<h2 id="density">Peak density per zone</h2>
<p class="muted">Occupancy replayed from the stored gate events in time order.</p>{peaks}
<h2 id="alerts">Alerts ({len(r.alerts)})</h2>{alerts}
<h2 id="incidents">Incidents ({len(r.incidents)})</h2>{incidents}
<h2 id="orders">Orders ({len(r.orders)})</h2>{orders}
<h2 id="screening">Screening</h2>{screening}
</body></html>
"""
