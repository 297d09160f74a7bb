"""Pure: walking distances over the venue's zone graph, and the dispatch proposal built on them.

A unit stands in a zone (reported, else found from its position, else its home zone); the
distance to a place is the shortest path over the venue's connections, each `length_m` long.
No I/O here: the REST layer passes the units, the venue and the minute of the day.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from eventguard.codes import UnitCapability, UnitKind, UnitStatus
from eventguard.config import Point, Venue
from eventguard.wire import UnitView

Graph = Mapping[str, Sequence[tuple[str, float]]]


def zone_graph(venue: Venue) -> dict[str, list[tuple[str, float]]]:
    """Zone id -> [(neighbour, metres)], both ways along every connection."""
    graph: dict[str, list[tuple[str, float]]] = {z.id: [] for z in venue.zones}
    for c in venue.connections:
        graph.setdefault(c.a, []).append((c.b, c.length_m))
        graph.setdefault(c.b, []).append((c.a, c.length_m))
    return graph


def distances(graph: Graph, start: str) -> dict[str, float]:
    """Shortest walking distance in metres from `start` to every reachable zone (Dijkstra)."""
    best: dict[str, float] = {start: 0.0}
    heap = [(0.0, start)]
    while heap:
        d, zone = heapq.heappop(heap)
        if d > best.get(zone, float("inf")):
            continue
        for nxt, length in graph.get(zone, ()):
            nd = d + length
            if nd < best.get(nxt, float("inf")):
                best[nxt] = nd
                heapq.heappush(heap, (nd, nxt))
    return best


def inside(polygon: Sequence[Point], x: float, y: float) -> bool:
    """Point in polygon (even-odd rule; a point on an edge may fall either way)."""
    hit = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def zone_at(venue: Venue, x: float, y: float) -> str | None:
    """The zone whose polygon holds (x, y), else the one whose polygon's centre is nearest
    (a gate or a point just outside the plan still belongs somewhere); None without polygons."""
    for z in venue.zones:
        if len(z.polygon) >= 3 and inside(z.polygon, x, y):
            return z.id
    centres = [(z.id, sum(p[0] for p in z.polygon) / len(z.polygon), sum(p[1] for p in z.polygon) / len(z.polygon))
               for z in venue.zones if z.polygon]
    if not centres:
        return None
    return min(centres, key=lambda c: (c[1] - x) ** 2 + (c[2] - y) ** 2)[0]


def place_zone(venue: Venue, place: str) -> str | None:
    """The zone a place names: a zone id, or a gate id (the zone it admits into)."""
    if any(z.id == place for z in venue.zones):
        return place
    return next((g.zone for g in venue.gates if g.id == place), None)


def unit_zone(venue: Venue, unit: UnitView) -> str | None:
    """Where a unit stands: its reported zone, else the zone of its position, else its home."""
    if unit.zone and place_zone(venue, unit.zone):
        return place_zone(venue, unit.zone)
    if unit.x is not None and unit.y is not None:
        return zone_at(venue, unit.x, unit.y)
    if unit.home_zone:
        return place_zone(venue, unit.home_zone)
    if unit.home_x is not None and unit.home_y is not None:
        return zone_at(venue, unit.home_x, unit.home_y)
    return None


def on_shift(shift: str, minute_of_day: int) -> bool:
    """Whether `minute_of_day` (0-1439) falls in an HH:MM-HH:MM shift (across midnight too);
    an empty shift is always on."""
    if not shift:
        return True
    start_s, end_s = shift.split("-")
    start = int(start_s[:2]) * 60 + int(start_s[3:])
    end = int(end_s[:2]) * 60 + int(end_s[3:])
    if start == end:
        return True
    return start <= minute_of_day < end if start < end else minute_of_day >= start or minute_of_day < end


@dataclass(frozen=True, slots=True)
class Candidate:
    """A unit that could go, and how far it has to walk."""

    unit_id: str
    kind: UnitKind
    distance_m: float
    zone: str


def propose(venue: Venue, units: Iterable[UnitView], place: str, *, kinds: Iterable[UnitKind] = (),
            capabilities: Iterable[UnitCapability] = (), minute_of_day: int | None = None) -> list[Candidate]:
    """Available, in-service, on-shift units of one of `kinds` (any when empty) with every one of
    `capabilities`, that can walk to `place`, nearest first (ties by id). Empty when the place
    is unknown."""
    target = place_zone(venue, place)
    if target is None:
        return []
    from_target = distances(zone_graph(venue), target)  # walking is symmetric: one search
    want_kinds, want_caps = frozenset(kinds), frozenset(capabilities)
    out: list[Candidate] = []
    for u in units:
        if u.retired or u.status != UnitStatus.AVAILABLE:
            continue
        if want_kinds and u.kind not in want_kinds:
            continue
        if not want_caps <= frozenset(u.capabilities):
            continue
        if minute_of_day is not None and not on_shift(u.shift, minute_of_day):
            continue
        zone = unit_zone(venue, u)
        if zone is None or zone not in from_target:
            continue
        out.append(Candidate(u.id, u.kind, from_target[zone], zone))
    out.sort(key=lambda c: (c.distance_m, c.unit_id))
    return out
