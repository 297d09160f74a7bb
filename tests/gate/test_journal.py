"""The gate journal on a real SQLite file: idempotent append, acks, anti-passback set, counts."""

from __future__ import annotations

from pathlib import Path

from eventguard.wire import EventKind, GateEvent
from gate.journal import Journal


def _ev(n: int, kind: EventKind = EventKind.ENTRY, lane: int = 0, ticket: str | None = None) -> GateEvent:
    return GateEvent(event_id=f"G1:{n}", gate_id="G1", kind=kind, at=1000.0 + n, lane=lane,
                     ticket_id=ticket, verdict="admit" if kind is EventKind.ENTRY else None)


def test_append_is_idempotent_by_event_id(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    try:
        assert j.append(_ev(1, ticket="t1")) is True
        assert j.append(_ev(1, ticket="t1")) is False
        assert j.event_ids() == ["G1:1"]
        assert j.pending() == 1
        assert j.unacked() == [_ev(1, ticket="t1")]
    finally:
        j.close()


def test_ack_removes_from_pending_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    try:
        for n in range(5):
            j.append(_ev(n))
        assert [e.event_id for e in j.unacked(limit=3)] == ["G1:0", "G1:1", "G1:2"]
        j.mark_acked(["G1:0", "G1:2", "unknown"])
        assert j.pending() == 3
        assert [e.event_id for e in j.unacked()] == ["G1:1", "G1:3", "G1:4"]
        j.mark_acked(["G1:1", "G1:3", "G1:4"])
        assert j.pending() == 0 and j.unacked() == []
    finally:
        j.close()


def test_inside_set_and_pending_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.append(_ev(1, ticket="t1"))
    j.append(_ev(2, ticket="t2"))
    j.append(_ev(3, EventKind.EXIT, ticket="t1"))
    j.append(_ev(4, EventKind.DENY, ticket="t3"))  # a deny never puts anyone inside
    j.mark_acked(["G1:1"])
    j.close()
    j2 = Journal(path)
    try:
        assert j2.inside() == {"t2"}
        assert j2.pending() == 3
        assert j2.event_ids() == ["G1:1", "G1:2", "G1:3", "G1:4"]
        # a replayed entry of t1 (same event id) does not put t1 back inside
        assert j2.append(_ev(1, ticket="t1")) is False
        assert j2.inside() == {"t2"}
    finally:
        j2.close()


def test_counts_per_lane_and_kind(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    try:
        for n, (kind, lane) in enumerate([(EventKind.ENTRY, 0), (EventKind.ENTRY, 0), (EventKind.ENTRY, 1),
                                          (EventKind.DENY, 1), (EventKind.SECONDARY, 0),
                                          (EventKind.EXIT, 2)]):
            j.append(_ev(n, kind, lane))
        j.append(_ev(0, EventKind.ENTRY, 0))  # duplicate, not counted
        assert j.counts() == {(0, "entry"): 2, (1, "entry"): 1, (1, "deny"): 1, (0, "secondary"): 1,
                              (2, "exit"): 1}
    finally:
        j.close()


def test_journal_and_lists_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """They hold tickets, admissions and faces: 0600 files (SQLite's -wal and -shm too) in a
    0700 folder, even under umask 000 (they were 0644 in a 0755 folder)."""
    import os
    import stat

    from eventguard.wire import ListSync
    from gate.listcache import ListCache

    old = os.umask(0)
    try:
        folder = tmp_path / "gates" / "N1"
        j = Journal(folder / "N1.journal.sqlite")
        lists = ListCache(folder / "N1.journal.sqlite.lists")
        j.append(_ev(1))
        lists.save(ListSync(event_id="e", version=1, since_version=0, revoked=("t1",), full=True))
        files = sorted(folder.iterdir())
        assert {f.name for f in files} >= {"N1.journal.sqlite", "N1.journal.sqlite-wal", "N1.journal.sqlite.lists"}
        assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "gates").stat().st_mode) == 0o700
        j.close()
        lists.close()
    finally:
        os.umask(old)
