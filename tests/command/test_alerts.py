"""Tests of command/alerts.py: the evaluator, operator actions, watchlist hits, suggestions."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from command.alerts import (
    Action,
    AlertBook,
    AlertChange,
    AlertConfig,
    AlertKind,
    AlertLevel,
    AlertStatus,
    ChangeKind,
    GateLanes,
    GateStats,
    Observations,
    SuggestConfig,
    SuggestionReason,
    acknowledge,
    evaluate,
    level_for_severity,
    resolve,
    suggest_actions,
    watchlist_alert,
)
from command.density import ZoneState, zone_state
from command.errors import AlertAlreadyResolved, UnknownAlert
from eventguard.codes import WatchSeverity
from eventguard.config import Thresholds, Zone

CFG = AlertConfig(thresholds=Thresholds(warning_density=2.0, critical_density=4.0,
                                        forecast_horizon_s=600.0),
                  hysteresis=0.10, clear_after_s=60.0)
ZONE = Zone(id="north", name="North", area_m2=100.0, capacity=1000)


def _zone(density: float, zone: Zone = ZONE) -> ZoneState:
    return zone_state(zone, round(density * zone.area_m2))


def _run(densities: Sequence[float], step_s: float = 5.0, book: AlertBook | None = None,
         t0: float = 0.0) -> tuple[AlertBook, list[tuple[float, AlertChange]]]:
    book = AlertBook() if book is None else book  # an empty book is falsy
    log: list[tuple[float, AlertChange]] = []
    for i, d in enumerate(densities):
        now = t0 + i * step_s
        book, changes = evaluate(book, Observations(zones={"north": _zone(d)}), now, CFG)
        log.extend((now, c) for c in changes)
    return book, log


def _kinds(log: list[tuple[float, AlertChange]]) -> list[tuple[ChangeKind, AlertLevel]]:
    return [(c.change, c.alert.level) for _, c in log]


def test_oscillating_density_raises_exactly_one_alert() -> None:
    book, log = _run([1.5] + [2.05, 1.95] * 50)  # around 2.0, never below the 1.8 clear line
    assert _kinds(log) == [(ChangeKind.RAISED, AlertLevel.WARNING)]
    assert len(book) == 1
    alert = book[(AlertKind.DENSITY_WARNING, "north")]
    assert alert.kind is AlertKind.DENSITY_WARNING and alert.status is AlertStatus.RAISED


@pytest.mark.parametrize(("tail", "cleared"), [
    ([1.9] * 40, False),  # below warning but above 1.8: not clear at all
    ([1.7] * 12, False),  # below the line for 55 s only
    ([1.7] * 13, True),  # 60 s below the line
    ([1.7] * 10 + [1.85] + [1.7] * 12, False),  # the timer restarts when it pops back up
    ([1.7] * 10 + [1.85] + [1.7] * 13, True),
])
def test_clearing_needs_the_drop_and_the_hold(tail: list[float], cleared: bool) -> None:
    book, log = _run([2.5] + tail)
    changes = _kinds(log)
    assert changes[0] == (ChangeKind.RAISED, AlertLevel.WARNING)
    assert (ChangeKind.CLEARED, AlertLevel.WARNING) in changes if cleared else len(changes) == 1
    assert len(book) == (0 if cleared else 1)
    if cleared:
        done = log[-1][1].alert
        assert done.status is AlertStatus.RESOLVED and done.resolved_by == "auto"
        with pytest.raises(AlertAlreadyResolved):
            book.by_id(done.id)


def test_escalation_renotifies_and_resets_ack() -> None:
    book, log = _run([2.5])
    alert_id = log[0][1].alert.id
    book = acknowledge(book, alert_id, "op1", now=10.0)
    book, log = _run([2.6, 3.0], book=book, t0=15.0)  # level stays: ack stays, no change
    assert log == []
    assert book.by_id(alert_id).status is AlertStatus.ACKNOWLEDGED
    book, log = _run([4.2], book=book, t0=30.0)
    assert [(c.change, c.alert.kind, c.previous_level) for _, c in log] == [
        (ChangeKind.ESCALATED, AlertKind.DENSITY_CRITICAL, AlertLevel.WARNING)]
    up = book.by_id(alert_id)  # same alert, same key, no second one
    assert len(book) == 1 and up.level is AlertLevel.CRITICAL
    assert up.status is AlertStatus.RAISED and up.acknowledged_by is None


def test_downgrade_with_hysteresis_keeps_ack() -> None:
    book, log = _run([4.5])
    book = acknowledge(book, log[0][1].alert.id, "op1", now=1.0)
    book, log = _run([3.8] * 30, book=book, t0=5.0)  # under 4.0, above 3.6: stays critical
    assert log == []
    book, log = _run([3.0] * 13, book=book, t0=200.0)
    assert _kinds(log) == [(ChangeKind.DOWNGRADED, AlertLevel.WARNING)]
    alert = log[0][1].alert
    assert alert.kind is AlertKind.DENSITY_WARNING and alert.status is AlertStatus.ACKNOWLEDGED


def test_no_storm_over_1000_noisy_updates() -> None:
    rng = random.Random(7)
    densities = [max(0.0, 2.0 + rng.gauss(0, 0.08)) for _ in range(1000)]
    book, log = _run(densities, step_s=1.0)
    assert len(log) == 1 and log[0][1].change is ChangeKind.RAISED
    ids = {a.id for a in book.values()}
    assert len(book) == 1 and ids == {1} and book.next_id == 2


def test_many_zones_one_alert_each_and_stable_ids() -> None:
    zones = {f"z{i:02}": zone_state(Zone(id=f"z{i:02}", name="z", area_m2=10.0, capacity=100),
                                    25 if i % 2 else 5) for i in range(10)}
    book, changes = evaluate(AlertBook(next_id=500), Observations(zones=zones), 0.0, CFG)
    assert [(c.alert.subject, c.alert.id) for c in changes] == [
        ("z01", 500), ("z03", 501), ("z05", 502), ("z07", 503), ("z09", 504)]
    book2, again = evaluate(book, Observations(zones=zones), 5.0, CFG)
    assert again == [] and len(book2) == 5 and book2.next_id == 505


def test_forecast_alert_levels() -> None:
    def step(book: AlertBook, seconds: float | None, now: float) -> tuple[AlertBook, list[str]]:
        book, changes = evaluate(book, Observations(forecasts={"north": seconds}), now, CFG)
        return book, [f"{c.change}:{c.alert.level}" for c in changes]
    book, out = step(AlertBook(), 900.0, 0.0)
    assert out == []
    book, out = step(book, 500.0, 5.0)
    assert out == ["raised:warning"]
    book, out = step(book, 640.0, 10.0)  # within horizon*(1+h): held
    assert out == [] and book[(AlertKind.CAPACITY_FORECAST, "north")].value == 640.0
    book, out = step(book, 90.0, 15.0)
    assert out == ["escalated:critical"]
    book, out = step(book, None, 20.0)
    book, out = step(book, None, 80.0)
    assert out == ["cleared:critical"] and len(book) == 0


@pytest.mark.parametrize(("decisions", "denied", "expected"), [
    (10, 10, None),  # too few decisions to judge
    (100, 25, None),
    (100, 30, AlertLevel.WARNING),
    (40, 30, AlertLevel.CRITICAL),
])
def test_deny_rate_spike(decisions: int, denied: int, expected: AlertLevel | None) -> None:
    obs = Observations(gates={"g1": GateStats(decisions=decisions, denied=denied,
                                              last_event_at=0.0)})
    book, changes = evaluate(AlertBook(), obs, 0.0, CFG)
    got = [c.alert.level for c in changes if c.alert.kind is AlertKind.DENY_RATE_SPIKE]
    assert got == ([] if expected is None else [expected])


def test_deny_rate_clears_after_hold() -> None:
    spike = Observations(gates={"g1": GateStats(100, 50, 0.0)})
    calm = Observations(gates={"g1": GateStats(100, 5, 0.0)})
    book, changes = evaluate(AlertBook(), spike, 0.0, CFG)
    assert [c.change for c in changes] == [ChangeKind.RAISED]
    book, changes = evaluate(book, calm, 10.0, CFG)
    assert changes == []
    book, changes = evaluate(book, calm, 70.0, CFG)
    assert [c.change for c in changes] == [ChangeKind.CLEARED]


@pytest.mark.parametrize(("open_since", "last_event", "now", "silent"), [
    (None, None, 10_000.0, False),  # event closed: never silent
    (0.0, None, 100.0, False),  # doors opened 100 s ago
    (0.0, None, 121.0, True),  # never heard from since the doors opened
    (0.0, 500.0, 610.0, False),
    (0.0, 500.0, 621.0, True),
    (1000.0, 500.0, 1100.0, False),  # quiet before the doors opened does not count
])
def test_gate_silent(open_since: float | None, last_event: float | None, now: float,
                     silent: bool) -> None:
    obs = Observations(gates={"g1": GateStats(last_event_at=last_event)},
                       event_open_since=open_since)
    book, changes = evaluate(AlertBook(), obs, now, CFG)
    assert [c.alert.kind for c in changes] == ([AlertKind.GATE_SILENT] if silent else [])


@pytest.mark.parametrize(("open_since", "offline_since", "now", "offline"), [
    (None, 0.0, 10_000.0, False),  # event closed
    (0.0, None, 10_000.0, False),  # connected (or never connected: that is gate_silent's case)
    (0.0, 100.0, 130.0, False),  # 30 s is the limit
    (0.0, 100.0, 131.0, True),
    (1000.0, 100.0, 1020.0, False),  # down before the doors opened: counted from the opening
    (1000.0, 100.0, 1031.0, True),
])
def test_gate_offline(open_since: float | None, offline_since: float | None, now: float,
                      offline: bool) -> None:
    obs = Observations(gates={"g1": GateStats(last_event_at=now, offline_since=offline_since)},
                       event_open_since=open_since)
    book, changes = evaluate(AlertBook(), obs, now, CFG)
    assert [c.alert.kind for c in changes] == ([AlertKind.GATE_OFFLINE] if offline else [])
    if offline:  # back online: cleared once it has stayed connected for clear_after_s
        back = Observations(gates={"g1": GateStats(last_event_at=now)}, event_open_since=open_since)
        book, changes = evaluate(book, back, now + 1, CFG)
        assert changes == []
        book, changes = evaluate(book, back, now + 1 + CFG.clear_after_s, CFG)
        assert [(c.change, c.alert.kind) for c in changes] == [(ChangeKind.CLEARED, AlertKind.GATE_OFFLINE)]


def test_missing_subject_leaves_alert_untouched() -> None:
    book, _ = _run([2.5])
    book2, changes = evaluate(book, Observations(), 1000.0, CFG)
    assert changes == [] and dict(book2) == dict(book)


def test_acknowledge_and_resolve() -> None:
    book, log = _run([2.5])
    alert_id = log[0][1].alert.id
    acked = acknowledge(book, alert_id, "op1", now=3.0)
    alert = acked.by_id(alert_id)
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_at) == (
        AlertStatus.ACKNOWLEDGED, "op1", 3.0)
    assert book.by_id(alert_id).status is AlertStatus.RAISED  # the old book is unchanged
    assert acknowledge(acked, alert_id, "op2", now=4.0).by_id(alert_id).acknowledged_by == "op1"
    done = resolve(acked, alert_id, "op2", now=5.0)
    assert len(done) == 0
    with pytest.raises(AlertAlreadyResolved):
        resolve(done, alert_id, "op1", now=6.0)
    with pytest.raises(AlertAlreadyResolved):
        acknowledge(done, alert_id, "op1", now=6.0)
    with pytest.raises(UnknownAlert):
        acknowledge(done, 999, "op1", now=6.0)
    # the condition persists: the next round raises a fresh alert with a new id
    again, log = _run([2.5], book=done, t0=10.0)
    assert [c.change for _, c in log] == [ChangeKind.RAISED]
    assert log[0][1].alert.id != alert_id


@pytest.mark.parametrize(("severity", "level"), [
    (WatchSeverity.INFO, AlertLevel.INFO), (WatchSeverity.DETAIN, AlertLevel.CRITICAL),
    (WatchSeverity.DENY, AlertLevel.CRITICAL),
])
def test_level_for_severity(severity: WatchSeverity, level: AlertLevel) -> None:
    assert level_for_severity(severity) is level


def test_watchlist_hits_are_new_and_idempotent() -> None:
    book = AlertBook(next_id=7)
    book, change = watchlist_alert(book, event_id="g1-n1", gate_id="g1", list_id="banned",
                                   entry_id="p9", severity=WatchSeverity.DENY, now=1.0, distance=0.41)
    assert change is not None and change.change is ChangeKind.RAISED
    assert (change.alert.id, change.alert.level, change.alert.details["gate_id"]) == (
        7, AlertLevel.CRITICAL, "g1")
    same, none = watchlist_alert(book, event_id="g1-n1", gate_id="g1", list_id="banned",
                                 entry_id="p9", severity=WatchSeverity.DENY, now=2.0)
    assert none is None and same is book
    book, other = watchlist_alert(book, event_id="g1-n2", gate_id="g1", list_id="banned",
                                  entry_id="p9", severity=WatchSeverity.DENY, now=3.0)
    assert other is not None and other.alert.id == 8 and len(book) == 2
    book = resolve(book, 7, "op", now=4.0)
    replay, nothing = watchlist_alert(book, event_id="g1-n1", gate_id="g1", list_id="banned",
                                      entry_id="p9", severity=WatchSeverity.DENY, now=5.0)
    assert nothing is None and len(replay) == 1
    later, _ = evaluate(book, Observations(), 10_000.0, CFG)  # never auto-cleared
    assert len(later) == 1


# ---- suggestions --------------------------------------------------------------------------


def _zs(zid: str, occupancy: int) -> ZoneState:
    return zone_state(Zone(id=zid, name=zid, area_m2=100.0, capacity=100), occupancy)


def test_suggestions_for_a_zone_heading_to_critical() -> None:
    states = {"a": _zs("a", 90), "b": _zs("b", 60), "c": _zs("c", 20), "d": _zs("d", 10)}
    forecasts = {"a": 240.0, "b": 5000.0, "c": None, "d": None}
    gates = {"a": [GateLanes("ga2", 4, 2), GateLanes("ga1", 4, 4), GateLanes("ga3", 2, 0)],
             "b": [GateLanes("gb", 6, 2)],
             "c": [GateLanes("gc1", 2, 2), GateLanes("gc2", 6, 3)]}  # d has no gate
    out = suggest_actions(states, forecasts, gates, SuggestConfig(horizon_s=600.0))
    got = [(s.action, s.gate_id, s.target_gate_id, s.lanes) for s in out]
    assert got == [
        (Action.METER_INFLOW, "ga1", None, None),
        (Action.DIVERT, "ga1", "gc2", None),
        (Action.METER_INFLOW, "ga2", None, None),
        (Action.DIVERT, "ga2", "gc2", None),
        (Action.OPEN_LANES, "gc2", None, 3),  # absorb the diverted arrivals
    ]
    assert all(s.zone_id == "a" for s in out[:4]) and out[0].forecast_s == 240.0
    assert out[4].reason is SuggestionReason.DIVERT_TARGET and out[4].zone_id == "c"


def test_no_suggestions_when_nothing_is_at_risk() -> None:
    states = {"a": _zs("a", 50)}
    gates = {"a": [GateLanes("ga", 4, 2, queue_wait_s=60.0)]}
    assert suggest_actions(states, {"a": None}, gates, SuggestConfig()) == []
    assert suggest_actions(states, {"a": 900.0}, gates, SuggestConfig(horizon_s=600.0)) == []


def test_long_queue_opens_lanes_only_where_there_is_room() -> None:
    states = {"a": _zs("a", 30), "b": _zs("b", 95)}
    gates = {"a": [GateLanes("ga", 4, 1, queue_wait_s=900.0)],
             "b": [GateLanes("gb", 4, 1, queue_wait_s=900.0)]}
    out = suggest_actions(states, {}, gates, SuggestConfig(queue_wait_s=300.0))
    assert [(s.action, s.reason, s.gate_id, s.lanes) for s in out] == [
        (Action.OPEN_LANES, SuggestionReason.LONG_QUEUE, "ga", 3)]


def test_zone_thresholds_override_the_venue_lines() -> None:
    from command.density import zone_state
    from eventguard.config import Thresholds, Zone

    stand = Zone(id="stand", name="Stand", area_m2=100, capacity=400)
    concourse = Zone(id="conc", name="Concourse", area_m2=100, capacity=400)
    cfg = AlertConfig(thresholds=Thresholds(2.0, 3.5),
                      zone_thresholds={"stand": Thresholds(3.3, 4.5)})
    # 2.9 p/m² in both: a full seated stand is normal, a concourse that full is not
    obs = Observations(zones={"stand": zone_state(stand, 290), "conc": zone_state(concourse, 290)})
    _, changes = evaluate(AlertBook(), obs, 100.0, cfg)
    assert [(c.alert.subject, c.alert.kind) for c in changes] == [("conc", AlertKind.DENSITY_WARNING)]
