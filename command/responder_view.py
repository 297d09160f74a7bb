"""What a unit's responder page is pushed (issue 20), decided from the data alone: which units a
change of orders or units concerns, and what a responder sees of an evacuation. Pure: no I/O, no
clock."""

from __future__ import annotations

from collections.abc import Iterable

from eventguard.codes import OrderKind
from eventguard.wire import EvacuationUpdate, Order, ResponderEvacuation, UnitView


def units_of(orders: Iterable[Order] = (), units: Iterable[UnitView] = ()) -> frozenset[str]:
    """The units whose page must be told: the targets of changed dispatches and the changed units
    themselves. A gate's order (close or open a lane, divert, hold a person) concerns no unit,
    even one whose id is the gate's."""
    return frozenset([*(o.target for o in orders if o.kind == OrderKind.DISPATCH), *(u.id for u in units)])


def evacuation(update: EvacuationUpdate) -> ResponderEvacuation:
    """A responder's view of the evacuation: under way or not, where, the broadcast and the ways
    out with their clearance estimate; the occupancy, progress and who declared it stay with staff."""
    if not update.active:
        return ResponderEvacuation()
    return ResponderEvacuation(active=True, zones_covered=update.zones_covered, note=update.note,
                               declared_at=update.declared_at, routes=update.routes,
                               clearance_s=dict(update.clearance_s))
