"""What a responder's page is pushed (command/responder_view.py) and how the open sockets are
marked (command/responders.py): tables, no I/O, no event loop."""

from __future__ import annotations

import pytest

from command import responder_view
from command.responders import Responders
from eventguard.codes import OrderKind, OrderStatus, UnitKind
from eventguard.wire import (
    EgressRoute,
    EvacuationUpdate,
    Order,
    ResponderEvacuation,
    UnitView,
    encode,
)


def _order(oid: int, target: str, kind: OrderKind = OrderKind.DISPATCH) -> Order:
    return Order(order_id=oid, kind=kind, target=target)


@pytest.mark.parametrize(("orders", "units"), [
    ([], set()),
    ([_order(1, "ST-1")], {"ST-1"}),
    ([_order(1, "ST-1"), _order(2, "ST-1"), _order(3, "MED-2")], {"ST-1", "MED-2"}),
    # a gate's orders concern no unit, even one whose id is the gate's
    ([_order(4, "N1", OrderKind.CLOSE_LANE), _order(5, "N1", OrderKind.OPEN_LANE), _order(6, "N1", OrderKind.DIVERT),
      _order(7, "N1", OrderKind.HOLD_PERSON)], set()),
    ([_order(8, "N1", OrderKind.HOLD_PERSON), _order(9, "ST-1")], {"ST-1"}),
])
def test_an_order_change_concerns_the_unit_it_dispatches(orders: list[Order], units: set[str]) -> None:
    assert responder_view.units_of(orders) == units


def test_a_changed_unit_concerns_itself() -> None:
    unit = UnitView(id="MED-1", kind=UnitKind.MEDIC, name="Medics 1", status="available")
    assert responder_view.units_of(units=[unit]) == {"MED-1"}
    assert responder_view.units_of([_order(1, "ST-1")], [unit]) == {"ST-1", "MED-1"}


ROUTE = EgressRoute(zone="north", path=("north", "south"), exit_gates=("S1",), length_m=12.0)


@pytest.mark.parametrize(("update", "seen"), [
    (EvacuationUpdate(), ResponderEvacuation()),
    # under way: where, the broadcast, the ways out and the estimate; no occupancy, no names
    (EvacuationUpdate(active=True, zones=("north",), zones_covered=("north",), gates=("N1", "N2"), note="Smoke",
                      declared_by="commander", declared_at=100.0, start_occupancy={"north": 30},
                      occupancy={"north": 12}, progress={"north": 0.6}, clearance_s={"north": 57.0},
                      clearance_model="sim/flow.py", routes=(ROUTE,)),
     ResponderEvacuation(active=True, zones_covered=("north",), note="Smoke", declared_at=100.0, routes=(ROUTE,),
                         clearance_s={"north": 57.0})),
    # ended: nothing to show (the last one's zones and text stay with staff)
    (EvacuationUpdate(active=False, zones_covered=("north",), note="Smoke", declared_at=100.0, ended_by="commander",
                      ended_at=200.0, routes=(ROUTE,)), ResponderEvacuation()),
])
def test_a_responder_sees_where_the_broadcast_and_the_ways_out(update: EvacuationUpdate,
                                                               seen: ResponderEvacuation) -> None:
    assert responder_view.evacuation(update) == seen


def test_order_changes_mark_only_their_units_sockets() -> None:
    r = Responders()
    one, other, two = r.attach(None, "ST-1"), r.attach(None, "ST-1"), r.attach(None, "ST-2")  # type: ignore[arg-type]
    for link in (one, other, two):  # a new socket is due its snapshot
        assert link.orders_stale and link.wake.is_set()
        link.orders_stale = False
        link.wake.clear()
    r.changed([_order(1, "ST-1"), _order(2, "ST-1", OrderKind.DISPATCH),
                      Order(order_id=3, kind=OrderKind.CLOSE_LANE, target="ST-2", status=OrderStatus.SENT)])
    assert [(link.orders_stale, link.wake.is_set()) for link in (one, other, two)] == [
        (True, True), (True, True), (False, False)]
    r.changed([_order(4, "MED-9")])  # nobody connected for it: nothing to do
    r.changed(units=[UnitView(id="ST-2", kind=UnitKind.STEWARD, name="S", status="available")])  # its status
    assert (two.orders_stale, two.wake.is_set()) == (True, True)
    r.detach(one)
    r.detach(other)
    assert r.units() == {"ST-2"}


def test_the_evacuation_goes_to_every_socket_once_per_change() -> None:
    r = Responders()
    before = r.attach(None, "ST-1")  # type: ignore[arg-type]
    assert before.evacuation is None  # nothing offered yet: the first offer brings it
    declared = encode(ResponderEvacuation(active=True, zones_covered=("north",)))
    r.evacuation_changed(declared)
    assert before.evacuation == declared
    before.evacuation = None
    before.wake.clear()
    r.evacuation_changed(declared)  # read again, the same: not sent again
    assert (before.evacuation, before.wake.is_set()) == (None, False)
    after = r.attach(None, "ST-2")  # type: ignore[arg-type]
    assert after.evacuation == declared  # a new socket starts with the state now
