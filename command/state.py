"""The live crowd picture held in memory: counters per zone and gate, rolled forward by
stored events (zones by the presence effects of entries and exits, see eventguard.presence). Pure: events and `now` in, views out; the database is the source of truth
and this state is rebuilt from its counters at start-up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from command.density import RateWindow, zone_state
from eventguard.config import Venue
from eventguard.wire import EventKind, GateEvent, GateView, ZoneView


@dataclass
class ZoneCounts:
    """Running totals of one zone."""

    entries: int = 0
    exits: int = 0
    transfers_in: int = 0
    transfers_out: int = 0
    inflow: RateWindow = field(default_factory=RateWindow)
    outflow: RateWindow = field(default_factory=RateWindow)

    @property
    def occupancy(self) -> int:
        """People inside: entries - exits + transfers in - transfers out."""
        return self.entries - self.exits + self.transfers_in - self.transfers_out


@dataclass
class GateCounts:
    """Running totals of one gate."""

    entries: int = 0
    exits: int = 0
    denies: int = 0
    secondary: int = 0
    last_event_at: float | None = None
    online: bool = False
    offline_since: float | None = None  # when its last connection closed (None: online or never seen)
    entry_rate: RateWindow = field(default_factory=RateWindow)
    queue: int = 0  # last count reported by the gate's people counter
    decision_rate: RateWindow = field(default_factory=lambda: RateWindow(300))
    deny_rate: RateWindow = field(default_factory=lambda: RateWindow(300))


class CrowdState:
    """Occupancy, flows and gate counters for one venue."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.gate_zone = {g.id: g.zone for g in venue.gates}
        self.zones = {z.id: ZoneCounts() for z in venue.zones}
        self.gates = {g.id: GateCounts() for g in venue.gates}

    def load(self, zone_counters: Mapping[str, tuple[int, int, int, int]],
             gate_counters: Mapping[str, tuple[int, int, int, int, float | None]]) -> None:
        """Start from the totals stored in the database."""
        for zid, (e, x, ti, to) in zone_counters.items():
            if zid in self.zones:
                z = self.zones[zid]
                z.entries, z.exits, z.transfers_in, z.transfers_out = e, x, ti, to
        for gid, (e, x, d, s, last) in gate_counters.items():
            g = self.gates.setdefault(gid, GateCounts())
            g.entries, g.exits, g.denies, g.secondary, g.last_event_at = e, x, d, s, last

    def apply(self, events: Iterable[GateEvent], now: float,
              zone_gate: Callable[[GateEvent], str | None] = lambda e: e.gate_id) -> tuple[set[str], set[str]]:
        """Roll stored (new, de-duplicated) events in; return the changed zone and gate ids.

        Gate counters count every decision; an entry or exit moves the zone of the gate
        `zone_gate` names, or none (presence, see command.store.Stored.zone_gate)."""
        zones: set[str] = set()
        gates: set[str] = set()
        for e in events:
            g = self.gates.setdefault(e.gate_id, GateCounts())
            gates.add(e.gate_id)
            if e.queue is not None and e.at >= (g.last_event_at or 0.0):
                g.queue = max(0, e.queue)
            g.last_event_at = max(g.last_event_at or e.at, e.at)
            if e.kind not in (EventKind.TRANSFER, EventKind.EXIT, EventKind.ESCALATED):
                g.decision_rate.add(now)
                if e.kind is EventKind.DENY:
                    g.deny_rate.add(now)
            zid = self.gate_zone.get(zone_gate(e) or "")
            if e.kind is EventKind.ENTRY:
                g.entries += 1
                g.entry_rate.add(now)
                if zid:
                    self.zones[zid].entries += 1
                    self.zones[zid].inflow.add(now)
                    zones.add(zid)
            elif e.kind is EventKind.EXIT:
                g.exits += 1
                if zid:
                    self.zones[zid].exits += 1
                    self.zones[zid].outflow.add(now)
                    zones.add(zid)
            elif e.kind is EventKind.DENY:
                g.denies += 1
            elif e.kind is EventKind.SECONDARY:
                g.secondary += 1
            elif e.kind is EventKind.TRANSFER and e.zone_from in self.zones and e.zone_to in self.zones:
                assert e.zone_from is not None and e.zone_to is not None
                self.zones[e.zone_from].transfers_out += 1
                self.zones[e.zone_from].outflow.add(now)
                self.zones[e.zone_to].transfers_in += 1
                self.zones[e.zone_to].inflow.add(now)
                zones.update((e.zone_from, e.zone_to))
        return zones, gates

    def apply_transfer(self, zone_from: str, zone_to: str, people: int, now: float) -> set[str]:
        """People a counting line saw go from one zone into another (crowd sensing); the zones."""
        if zone_from not in self.zones or zone_to not in self.zones or people <= 0:
            return set()
        self.zones[zone_from].transfers_out += people
        self.zones[zone_from].outflow.add(now, people)
        self.zones[zone_to].transfers_in += people
        self.zones[zone_to].inflow.add(now, people)
        return {zone_from, zone_to}

    def occupancy(self) -> dict[str, int]:
        """zone id -> people inside."""
        return {zid: z.occupancy for zid, z in self.zones.items()}

    def zone_view(self, zone_id: str, now: float, forecast_s: float | None = None) -> ZoneView:
        """One zone as the live map shows it."""
        zone = self.venue.zone(zone_id)
        c = self.zones[zone_id]
        st = zone_state(zone, c.occupancy, c.inflow.rate_per_min(now), c.outflow.rate_per_min(now))
        return ZoneView(id=zone.id, name=zone.name, occupancy=c.occupancy, capacity=zone.capacity,
                        area_m2=zone.area_m2, density=round(st.density, 3), los=st.los,
                        inflow_per_min=st.inflow_per_min, outflow_per_min=st.outflow_per_min,
                        forecast_s=forecast_s)

    def gate_view(self, gate_id: str, now: float) -> GateView:
        """One gate as the live map shows it."""
        c = self.gates[gate_id]
        try:
            g = self.venue.gate(gate_id)
            name, zone, lanes = g.name, g.zone, g.lanes
        except KeyError:
            name, zone, lanes = gate_id, "", 1
        return GateView(id=gate_id, name=name, zone=zone, lanes=lanes, entries=c.entries,
                        exits=c.exits, denies=c.denies, secondary=c.secondary,
                        entries_per_min=c.entry_rate.rate_per_min(now), queue=c.queue,
                        online=c.online, last_event_at=c.last_event_at)
