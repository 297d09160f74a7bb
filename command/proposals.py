"""One click from an alert's suggestion to the order that carries it out (issue 20), pure.

`orders_for_alert` maps an alert (its kind, subject and the suggestions for its zone made by
`command.alerts.suggest_actions`) to proposed orders:

| suggestion / alert | proposed order |
|---|---|
| meter_inflow at gate G | close_lane at G: its highest open lane |
| open_lanes at gate G | open_lane at G: its lowest closed lane |
| divert G to gate T | divert at G, location T, params {"to": T} |
| a zone's crowd alert (density, camera density, capacity or forecast crossing) | dispatch to the zone: a unit that can do crowd control |
| gate offline, silent, many denials; a ticket admitted twice | dispatch to the gate: a steward |

A dispatch is proposed without a unit: the caller fills in the nearest suitable available one
(command/walking.py). `closed_lanes` replays acknowledged lane orders to know which lanes are shut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventguard.codes import AlertKind, OrderKind, OrderStatus, UnitCapability, UnitKind
from eventguard.wire import Order

CROWD_ALERTS = frozenset({AlertKind.DENSITY_WARNING, AlertKind.DENSITY_CRITICAL, AlertKind.CROWD_DENSITY,
                          AlertKind.CAPACITY_FORECAST, AlertKind.FORECAST_CROSSING})
GATE_ALERTS = frozenset({AlertKind.GATE_OFFLINE, AlertKind.GATE_SILENT, AlertKind.DENY_RATE_SPIKE})


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """An order ready to send but for a dispatch's unit (`target` None: the nearest suitable)."""

    kind: OrderKind
    target: str | None
    location: str | None
    why: str  # the suggestion's action, or "dispatch"
    note: str
    params: Mapping[str, Any] = field(default_factory=dict)
    unit_kinds: tuple[UnitKind, ...] = ()
    capabilities: tuple[UnitCapability, ...] = ()


def closed_lanes(orders: Iterable[Order]) -> dict[str, frozenset[int]]:
    """Lanes each gate has shut, from its acknowledged close/open lane orders in issue order."""
    shut: dict[str, set[int]] = {}
    for o in sorted(orders, key=lambda o: o.order_id):
        lane = o.params.get("lane")
        if o.status != OrderStatus.ACKNOWLEDGED or not isinstance(lane, int):
            continue
        if o.kind == OrderKind.CLOSE_LANE:
            shut.setdefault(o.target, set()).add(lane)
        elif o.kind == OrderKind.OPEN_LANE:
            shut.setdefault(o.target, set()).discard(lane)
    return {g: frozenset(s) for g, s in shut.items()}


def orders_for_alert(kind: AlertKind, subject: str, details: Mapping[str, Any],
                     suggestions: Sequence[Mapping[str, Any]], lanes: Mapping[str, int],
                     closed: Mapping[str, frozenset[int]]) -> list[ProposedOrder]:
    """The orders that carry out an alert's suggestions, then the dispatch it calls for.

    `lanes`: each gate's lane count; `closed`: the lanes each gate has shut."""
    out: list[ProposedOrder] = []
    for s in suggestions:
        gate, action = str(s.get("gate") or ""), str(s.get("action") or "")
        if gate not in lanes:
            continue
        shut = closed.get(gate, frozenset())
        if action == "meter_inflow":
            open_ = [n for n in range(lanes[gate]) if n not in shut]
            if len(open_) > 1:  # never the last open lane: metering, not closing the gate
                out.append(ProposedOrder(OrderKind.CLOSE_LANE, gate, None, action,
                                         f"meter inflow into {subject}: close lane {open_[-1]} at {gate}",
                                         {"lane": open_[-1]}))
        elif action == "open_lanes" and shut:
            lane = min(shut)
            out.append(ProposedOrder(OrderKind.OPEN_LANE, gate, None, action,
                                     f"open lane {lane} at {gate}", {"lane": lane}))
        elif action == "divert" and s.get("target_gate") in lanes:
            to = str(s["target_gate"])
            out.append(ProposedOrder(OrderKind.DIVERT, gate, to, action,
                                     f"divert arrivals at {gate} to gate {to}"
                                     + (f" (zone {s['target_zone']})" if s.get("target_zone") else ""), {"to": to}))
    if kind in CROWD_ALERTS:
        out.append(ProposedOrder(OrderKind.DISPATCH, None, subject, "dispatch", f"crowd control in {subject}",
                                 capabilities=(UnitCapability.CROWD_CONTROL,)))
    elif kind in GATE_ALERTS and subject in lanes:
        out.append(ProposedOrder(OrderKind.DISPATCH, None, subject, "dispatch", f"check gate {subject}",
                                 unit_kinds=(UnitKind.STEWARD,)))
    elif kind is AlertKind.PASSBACK_CONFLICT and details.get("gate_id") in lanes:
        gate = str(details["gate_id"])
        out.append(ProposedOrder(OrderKind.DISPATCH, None, gate, "dispatch",
                                 f"check the holder of ticket {subject} at gate {gate}", unit_kinds=(UnitKind.STEWARD,)))
    return out
