"""One click from an alert's suggestion to its order (issue 20): the mapping, table-driven, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from command.proposals import ProposedOrder, closed_lanes, orders_for_alert
from eventguard.codes import AlertKind, OrderKind, OrderStatus, UnitCapability, UnitKind
from eventguard.wire import Order

LANES = {"N1": 2, "N2": 2, "S1": 3}
METER = {"action": "meter_inflow", "gate": "N1"}
DIVERT = {"action": "divert", "gate": "N1", "target_gate": "S1", "target_zone": "south"}
OPEN = {"action": "open_lanes", "gate": "S1", "lanes": 1}
CROWD = ProposedOrder(OrderKind.DISPATCH, None, "north", "dispatch", "crowd control in north",
                      capabilities=(UnitCapability.CROWD_CONTROL,))


@pytest.mark.parametrize(("kind", "subject", "details", "suggestions", "closed", "expect"), [
    # meter inflow: the feeding gate closes its highest open lane, never its last one
    (AlertKind.DENSITY_WARNING, "north", {}, [METER], {}, [
        ProposedOrder(OrderKind.CLOSE_LANE, "N1", None, "meter_inflow", "meter inflow into north: close lane 1 at N1",
                      {"lane": 1}), CROWD]),
    (AlertKind.DENSITY_WARNING, "north", {}, [METER], {"N1": frozenset({1})}, [CROWD]),
    # divert with its target; open lanes only where a lane is known shut
    (AlertKind.CAPACITY_FORECAST, "north", {}, [DIVERT, OPEN], {"S1": frozenset({2, 1})}, [
        ProposedOrder(OrderKind.DIVERT, "N1", "S1", "divert", "divert arrivals at N1 to gate S1 (zone south)",
                      {"to": "S1"}),
        ProposedOrder(OrderKind.OPEN_LANE, "S1", None, "open_lanes", "open lane 1 at S1", {"lane": 1}), CROWD]),
    (AlertKind.FORECAST_CROSSING, "north", {}, [OPEN], {}, [CROWD]),
    (AlertKind.DENSITY_CRITICAL, "north", {}, [{"action": "meter_inflow", "gate": "X9"}], {}, [CROWD]),
    # gates: a steward goes to look
    (AlertKind.GATE_OFFLINE, "N2", {}, [], {}, [
        ProposedOrder(OrderKind.DISPATCH, None, "N2", "dispatch", "check gate N2", unit_kinds=(UnitKind.STEWARD,))]),
    (AlertKind.PASSBACK_CONFLICT, "t-1", {"gate_id": "S1"}, [], {}, [
        ProposedOrder(OrderKind.DISPATCH, None, "S1", "dispatch", "check the holder of ticket t-1 at gate S1",
                      unit_kinds=(UnitKind.STEWARD,))]),
    # nothing to order: screening has its own review, data quality needs a person at the desk
    (AlertKind.WATCHLIST_HIT, "ev-1", {"gate_id": "N1"}, [], {}, []),
    (AlertKind.CAMERA_DISAGREEMENT, "bowl", {}, [], {}, []),
    (AlertKind.ORDER_UNACKNOWLEDGED, "12", {}, [], {}, []),
])
def test_each_alert_maps_to_the_orders_that_carry_out_its_suggestions(
        kind: AlertKind, subject: str, details: dict[str, Any], suggestions: list[dict[str, Any]],
        closed: dict[str, frozenset[int]], expect: list[ProposedOrder]) -> None:
    assert orders_for_alert(kind, subject, details, suggestions, LANES, closed) == expect


def test_closed_lanes_replay_acknowledged_lane_orders_in_issue_order() -> None:
    def o(i: int, kind: OrderKind, gate: str, lane: Any, status: OrderStatus = OrderStatus.ACKNOWLEDGED) -> Order:
        return Order(order_id=i, kind=kind, target=gate, params={"lane": lane}, status=status)
    orders = [o(3, OrderKind.OPEN_LANE, "N1", 1), o(1, OrderKind.CLOSE_LANE, "N1", 1),
              o(2, OrderKind.CLOSE_LANE, "N1", 0), o(4, OrderKind.CLOSE_LANE, "S1", 2, OrderStatus.SENT),
              o(5, OrderKind.CLOSE_LANE, "S1", "x"), o(6, OrderKind.DIVERT, "S1", 1)]
    assert closed_lanes(orders) == {"N1": frozenset({0})}
