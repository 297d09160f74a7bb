"""Venue-wide presence of tickets: who is inside, since when, through which gate. Pure.

One rule, used by the command server (authoritative, applied to stored events in the
ingest transaction) and by every gate (its local view between syncs, and what it learns from
peers while the server is out of reach):

- An admitted ENTRY puts a ticket inside. If the ticket is already inside (two entries with
  no exit between, e.g. admitted at two gates cut off from each other), the second entry is a
  CONFLICT: it is stored, raises a `passback_conflict` alert, and the person counts once.
- An admitted EXIT of a ticket inside lets it out (LEFT); an exit of a ticket not inside is a
  STRAY exit and changes nothing.
- Events arrive late (an offline gate replays its journal): a change older than the ticket's
  last known change does not move its state (STALE), except that an older entry while the
  ticket is inside is still a second entry, i.e. a CONFLICT.

Occupancy per zone follows the counted effects only: ENTERED adds one to the entry gate's zone,
LEFT takes one from the zone the ticket entered (presence attributes every person to one zone;
anonymous transfers measured by counting lines move people between zones on top of that);
everything else counts nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from eventguard.codes import EventKind


@dataclass(frozen=True, slots=True)
class Stay:
    """A ticket's presence: inside or not, the gate of the counted entry (inside) or of the exit,
    and the gate clock of its newest known change."""

    inside: bool
    gate_id: str
    at: float  # unix seconds


class Effect(enum.StrEnum):
    """What one admitted entry or exit did to presence."""

    ENTERED = "entered"  # counted: +1 in the entry gate's zone
    LEFT = "left"  # counted: -1 in the exit gate's zone
    CONFLICT = "conflict"  # a second entry while inside: stored, alerted, not counted
    STRAY = "stray"  # an exit of a ticket that is not inside: not counted
    STALE = "stale"  # older than what is known about the ticket: not counted


COUNTED = frozenset({Effect.ENTERED, Effect.LEFT})


def step(current: Stay | None, kind: EventKind, gate_id: str, at: float) -> tuple[Effect, Stay | None]:
    """The effect of one admitted ENTRY or EXIT on a ticket, and its presence afterwards."""
    if kind is EventKind.ENTRY:
        if current is not None and current.inside:  # counted once, in the zone it first entered
            return Effect.CONFLICT, Stay(True, current.gate_id, max(current.at, at))
        if current is not None and current.at > at:
            return Effect.STALE, current
        return Effect.ENTERED, Stay(True, gate_id, at)
    if kind is EventKind.EXIT:
        if current is None or not current.inside:
            return Effect.STRAY, current
        if current.at > at:
            return Effect.STALE, current
        return Effect.LEFT, Stay(False, gate_id, at)
    raise ValueError(f"presence changes only on entry and exit, not {kind}")


def merge(current: Stay | None, learned: Stay) -> Stay:
    """A change learned from the server or a peer replaces the local one if it is not older."""
    return learned if current is None or learned.at >= current.at else current


class InsideView:
    """`ticket_id in view` for tickets inside, over a presence mapping (no copy per scan)."""

    __slots__ = ("_book",)

    def __init__(self, book: Mapping[str, Stay]) -> None:
        self._book = book

    def __contains__(self, ticket_id: object) -> bool:
        s = self._book.get(ticket_id) if isinstance(ticket_id, str) else None
        return s is not None and s.inside

    def __iter__(self) -> Iterator[str]:
        return (t for t, s in self._book.items() if s.inside)
