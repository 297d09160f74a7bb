"""The orders' pure rules (command/dispatch.py): when a cancelled dispatch frees its unit. Tables,
no I/O."""

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
