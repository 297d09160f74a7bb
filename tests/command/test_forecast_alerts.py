"""Forecast crossings (issue 19): pure, table-driven, no loop."""

from __future__ import annotations

import pytest

from command.alerts import AlertBook, ChangeKind, Crossing, crossing_of, forecast_crossings
from eventguard.codes import AlertKind, AlertLevel, AlertStatus

W, C = AlertLevel.WARNING, AlertLevel.CRITICAL


@pytest.mark.parametrize(("now", "warn_in", "crit_in", "level", "lead"), [
    (1.0, None, None, None, None),
    (1.0, 300.0, None, W, 300.0),
    (1.0, 120.0, 480.0, C, 480.0),  # the highest line crossed, with its own lead
    (2.5, 1.0, 480.0, C, 480.0),  # over the warning line now: only the critical one is forecast
    (2.5, 1.0, None, None, None),  # already over: the live density alert's business
    (4.5, 1.0, 1.0, None, None),
])
def test_crossing_of(now: float, warn_in: float | None, crit_in: float | None,
                     level: AlertLevel | None, lead: float | None) -> None:
    c = crossing_of(now, 2.0, 4.0, warn_in, crit_in)
    assert (c.level, c.lead_s) == (level, lead)


def test_raised_with_lead_time_escalated_downgraded_and_cleared_by_later_forecasts() -> None:
    book = AlertBook(next_id=7)
    steps = [  # (forecast of zone A, expected change, level, lead)
        (Crossing(W, 540.0, 2.0), ChangeKind.RAISED, W, 540.0),
        (Crossing(W, 480.0, 2.0), None, W, 480.0),  # same line, sooner: lead kept current, no noise
        (Crossing(C, 600.0, 4.0), ChangeKind.ESCALATED, C, 600.0),
        (Crossing(W, 300.0, 2.0), ChangeKind.DOWNGRADED, W, 300.0),
        (Crossing(None), ChangeKind.CLEARED, W, None),
    ]
    for i, (crossing, change, level, lead) in enumerate(steps):
        book, changes = forecast_crossings(book, {"A": crossing}, now=100.0 + i, computed_at=99.0 + i)
        assert [c.change for c in changes] == ([change] if change else [])
        if change is ChangeKind.CLEARED:
            assert changes[0].alert.status is AlertStatus.RESOLVED and changes[0].alert.resolved_by == "auto"
            assert (AlertKind.FORECAST_CROSSING, "A") not in book
            continue
        a = book[(AlertKind.FORECAST_CROSSING, "A")]
        assert (a.id, a.kind, a.level, a.value, a.details["lead_s"]) == (7, AlertKind.FORECAST_CROSSING, level,
                                                                         lead, lead)
    assert book.next_id == 8


def test_zones_the_forecast_does_not_name_are_left_alone_and_other_kinds_untouched() -> None:
    book, _ = forecast_crossings(AlertBook(), {"A": Crossing(W, 60.0, 2.0), "B": Crossing(C, 90.0, 4.0)}, 1.0)
    book2, changes = forecast_crossings(book, {"B": Crossing(None)}, 2.0)
    assert [(c.change, c.alert.subject) for c in changes] == [(ChangeKind.CLEARED, "B")]
    assert list(book2) == [(AlertKind.FORECAST_CROSSING, "A")]
