"""The orders' pure rules (command/dispatch.py): which orders can be called off, in which status,
and when a cancelled dispatch frees its unit. Tables, no I/O."""

from __future__ import annotations

import pytest

from command import dispatch
from eventguard.codes import OrderKind, OrderStatus
from eventguard.wire import Order

SENT, ESCALATED, ACKED, CANCELLED = (OrderStatus.SENT, OrderStatus.ESCALATED, OrderStatus.ACKNOWLEDGED,
                                     OrderStatus.CANCELLED)


def _o(oid: int, status: OrderStatus = SENT, *, target: str = "ST-1", incident: int | None = None,
       kind: OrderKind = OrderKind.DISPATCH) -> Order:
    return Order(order_id=oid, kind=kind, target=target, status=status, incident_id=incident)


CALLED_OFF = _o(1, CANCELLED, incident=7)


@pytest.mark.parametrize(("others", "open_incidents", "free"), [
    ([], set(), True),
    ([CALLED_OFF], {7}, True),  # its own row is not another order
    ([_o(2, ACKED), _o(3, CANCELLED)], set(), True),  # done or called off: they hold nothing
    ([_o(2, SENT)], set(), False),  # another dispatch still waits for its answer
    ([_o(2, ESCALATED)], set(), False),
    ([_o(2, ACKED, incident=8)], {8}, False),  # on another open incident
    ([_o(2, ACKED, incident=8)], set(), True),  # that incident is closed
    ([_o(2, CANCELLED, incident=8)], {8}, True),  # called off there too
    ([_o(2, ACKED, incident=7)], {7}, True),  # the incident it is withdrawn from
    ([_o(2, SENT, target="ST-2"), _o(3, SENT, target="N1", kind=OrderKind.CLOSE_LANE)], set(), True),  # not its
])
def test_a_cancelled_dispatch_frees_its_unit_unless_something_else_holds_it(
        others: list[Order], open_incidents: set[int], free: bool) -> None:
    assert dispatch.frees_unit(CALLED_OFF, others, open_incidents) is free


def test_a_gate_order_frees_no_unit() -> None:
    assert not dispatch.frees_unit(_o(1, CANCELLED, target="N1", kind=OrderKind.DIVERT), [], set())


DIVERT, HOLD, CLOSE, OPEN, DISPATCH = (OrderKind.DIVERT, OrderKind.HOLD_PERSON, OrderKind.CLOSE_LANE,
                                       OrderKind.OPEN_LANE, OrderKind.DISPATCH)


@pytest.mark.parametrize(("kind", "status", "allowed"), [
    (DISPATCH, SENT, True), (DISPATCH, ESCALATED, True),
    (DISPATCH, ACKED, False),  # the unit is on its way: stood down by radio or by closing the incident
    (DISPATCH, CANCELLED, False),
    (DIVERT, SENT, True), (DIVERT, ESCALATED, True),
    (DIVERT, ACKED, True),  # a standing instruction to staff: calling it off ends it
    (DIVERT, CANCELLED, False),
    (HOLD, SENT, True), (HOLD, ESCALATED, True), (HOLD, ACKED, True), (HOLD, CANCELLED, False),
    # the gate carries a lane order out itself: the opposite lane order undoes it
    (CLOSE, SENT, False), (CLOSE, ESCALATED, False), (CLOSE, ACKED, False), (CLOSE, CANCELLED, False),
    (OPEN, SENT, False), (OPEN, ACKED, False),
])
def test_which_orders_can_be_called_off_in_which_status(kind: OrderKind, status: OrderStatus, allowed: bool) -> None:
    assert (dispatch.call_off_refusal(kind, status) is None) is allowed


def test_every_order_kind_has_a_call_off_rule() -> None:
    assert set(dispatch.CALLABLE_OFF) == set(OrderKind)


@pytest.mark.parametrize(("kind", "undo"), [(CLOSE, "open_lane"), (OPEN, "close_lane")])
def test_a_refused_lane_order_names_the_order_that_undoes_it(kind: OrderKind, undo: str) -> None:
    assert f"send {undo} to undo it" in (dispatch.call_off_refusal(kind, SENT) or "")
