"""Issuing side of tickets: event keys and ticket rows in PostgreSQL, signing with the key file."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from command.signing_keys import key_path, read_private_key, write_private_key
from eventguard import tickets
from eventguard.config import EventInfo
from eventguard.errors import ConfigError, TicketingError
from eventguard.tickets import Ticket

DOORS_MARGIN_S = 3600  # tickets verify from an hour before doors open (queues form early)


def default_validity(event: EventInfo, margin_s: int = DOORS_MARGIN_S) -> tuple[int, int]:
    """A ticket's window from its event: doors_open (else starts_at) minus a margin, to ends_at."""
    opens = event.doors_open or event.starts_at
    if opens is None or event.ends_at is None:
        missing = ", ".join(k for k, v in (("doors_open or starts_at", opens), ("ends_at", event.ends_at))
                            if v is None)
        raise ConfigError(f"event {event.id}: the venue's [event] needs {missing} to set ticket validity; "
                          "add it, or give --valid-from and --valid-until")
    return int(opens.timestamp()) - margin_s, int(event.ends_at.timestamp())


def parse_when(text: str, what: str) -> int:
    """An ISO 8601 date-time with a UTC offset (e.g. 2026-12-05T18:00:00+08:00) as unix seconds."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not an ISO 8601 date-time like "
                          "2026-12-05T18:00:00+08:00") from None
    if when.tzinfo is None:
        raise ConfigError(f"{what}: {text!r} needs a UTC offset, like 2026-12-05T18:00:00+08:00")
    return int(when.timestamp())


async def list_tickets(conn: asyncpg.Connection, event_id: str) -> list[dict[str, object]]:
    """Every ticket of an event with its holder's name, kind, status and window (issue order)."""
    rows = await conn.fetch(
        "SELECT t.ticket_id, t.holder_ref, r.name AS holder_name, t.kind, t.entrances, t.valid_from,"
        " t.valid_until, t.issued_at, t.revoked_at, t.revoke_reason, t.revoke_kind, t.reissued_as, t.payload"
        " FROM tickets t LEFT JOIN registrations r ON r.registration_id = t.holder_ref"
        " WHERE t.event_id = $1 ORDER BY t.issued_at, t.ticket_id", event_id)
    return [{"ticket_id": r["ticket_id"], "holder_ref": r["holder_ref"], "holder_name": r["holder_name"],
             "kind": r["kind"], "entrances": ";".join(r["entrances"]),
             "status": ("reissued" if r["revoke_kind"] == "reissued" else "revoked") if r["revoked_at"] else "valid",
             "reissued_as": r["reissued_as"],
             "valid_from": r["valid_from"].isoformat(), "valid_until": r["valid_until"].isoformat(),
             "issued_at": r["issued_at"].isoformat(), "revoke_reason": r["revoke_reason"],
             "payload": r["payload"]} for r in rows]


def _ts(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


async def create_key(conn: asyncpg.Connection, event_id: str, key_dir: Path | None = None) -> tuple[int, Path]:
    """New signing key for an event: private half to a 0600 file, public half to the database."""
    key_id: int = await conn.fetchval(
        "SELECT coalesce(max(key_id), 0) + 1 FROM event_keys WHERE event_id = $1", event_id)
    if key_id > 255:
        raise ValueError("an event has at most 255 keys")
    key = tickets.new_key()
    path = key_path(event_id, tickets.public_raw(key), key_dir)
    write_private_key(path, tickets.private_raw(key))
    await conn.execute("INSERT INTO event_keys (event_id, key_id, public_key) VALUES ($1, $2, $3)",
                       event_id, key_id, tickets.public_raw(key))
    return key_id, path


async def latest_key(conn: asyncpg.Connection, event_id: str, key_dir: Path | None = None
                     ) -> tuple[int, Ed25519PrivateKey]:
    """The newest key of an event, loaded from its file."""
    row = await conn.fetchrow("SELECT key_id, public_key FROM event_keys WHERE event_id = $1"
                              " ORDER BY key_id DESC LIMIT 1", event_id)
    if row is None:
        raise TicketingError(f"event {event_id} has no signing key; run `eventguard keys create`")
    key = read_private_key(key_path(event_id, bytes(row["public_key"]), key_dir))
    if tickets.public_raw(key) != bytes(row["public_key"]):
        raise TicketingError(f"key file for event {event_id} does not match the database's public key")
    return row["key_id"], key


async def public_keys(conn: asyncpg.Connection, event_id: str) -> dict[int, Ed25519PublicKey]:
    """key_id -> public key, for gates."""
    rows = await conn.fetch("SELECT key_id, public_key FROM event_keys WHERE event_id = $1", event_id)
    return {r["key_id"]: tickets.load_public(bytes(r["public_key"])) for r in rows}


async def issue(conn: asyncpg.Connection, *, event_id: str, key_id: int, key: Ed25519PrivateKey,
                valid_from: int, valid_until: int, now: int, holder_ref: str | None = None,
                entrances: Sequence[str] = (), kind: str = "standard") -> tuple[Ticket, str]:
    """Create, sign and store one ticket; return it and its QR text.

    A ticket bound to a holder must name a registration of the event, and stays within the
    holder's registered entrances (no entrances given: the holder's): gates receive a holder's
    face only where the registration admits it (command/sync_store.py). Raises TicketingError for
    an unknown holder, entrances outside the registration's, or a holder held for screening
    review (command/prescreen.py: no ticket until a reviewer dismisses the match)."""
    if holder_ref is not None:
        row = await conn.fetchrow("SELECT entrances, screening_hold FROM registrations WHERE registration_id = $1"
                                  " AND event_id = $2 AND removed_at IS NULL", holder_ref, event_id)
        if row is None:
            raise TicketingError(f"holder {holder_ref} is not a registration of event {event_id}")
        if row["screening_hold"]:
            raise TicketingError(f"holder {holder_ref} is held for screening review: no ticket until a reviewer "
                                 "dismisses the watchlist match")
        allowed = row["entrances"]
        if allowed and not entrances:
            entrances = tuple(allowed)
        elif allowed and not set(entrances) <= set(allowed):
            outside = ", ".join(sorted(set(entrances) - set(allowed)))
            raise TicketingError(f"entrances {outside} are outside holder {holder_ref}'s registered "
                                 f"entrances ({', '.join(allowed)})")
    t = Ticket(event_id=event_id, ticket_id=uuid.uuid4().hex, holder_ref=holder_ref,
               entrances=tuple(entrances), valid_from=valid_from, valid_until=valid_until,
               issued_at=now, kind=kind, key_id=key_id)
    payload = tickets.sign(t, key)
    try:
        async with conn.transaction():  # a savepoint: a refused insert leaves the caller's transaction usable
            await conn.execute(
                "INSERT INTO tickets (ticket_id, event_id, holder_ref, kind, entrances, valid_from, valid_until,"
                " issued_at, key_id, payload, sync_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
                " nextval('sync_version_seq'))",
                t.ticket_id, event_id, holder_ref, kind, list(t.entrances), _ts(valid_from), _ts(valid_until),
                _ts(now), key_id, payload)
    except asyncpg.UniqueViolationError as err:
        if err.constraint_name != "tickets_one_per_holder":
            raise
        held = await conn.fetchval("SELECT ticket_id FROM tickets WHERE event_id = $1 AND holder_ref = $2"
                                   " AND revoked_at IS NULL", event_id, holder_ref)
        raise TicketingError(f"holder {holder_ref} already holds ticket {held} (one ticket per ID per event); "
                             "reissue it if it was lost") from err
    return t, payload


async def revoke(conn: asyncpg.Connection, ticket_id: str, reason: str) -> bool:
    """Revoke a ticket (bumps its sync version so gates learn it); False if unknown/already."""
    status: str = await conn.execute(
        "UPDATE tickets SET revoked_at = now(), revoke_reason = $2, revoke_kind = 'revoked',"
        " sync_version = nextval('sync_version_seq') WHERE ticket_id = $1 AND revoked_at IS NULL", ticket_id, reason)
    return status.endswith(" 1")


# ---- lost or stolen tickets: reissue (issue 15) --------------------------------------------


class ReissueRefused(TicketingError):
    """The ticket cannot be reissued: `code` is unknown_ticket, other_event or already_revoked."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def reissue(conn: asyncpg.Connection, ticket_id: str, *, event_id: str, key_id: int, key: Ed25519PrivateKey,
                  now: int, reason: str) -> tuple[Ticket, str]:
    """Revoke a ticket as reissued and issue a new one for the same registration (holder, kind,
    entrances, validity window), signed with `key`; the new ticket and its QR text. Run it in a
    transaction: the old row is locked, so two reissues of one ticket make one new ticket.
    Gates learn the revocation's kind and refuse the old ticket as `ticket_reissued`."""
    old = await conn.fetchrow("SELECT event_id, holder_ref, kind, entrances, valid_from, valid_until, revoked_at"
                              " FROM tickets WHERE ticket_id = $1 FOR UPDATE", ticket_id)
    if old is None:
        raise ReissueRefused("unknown_ticket", f"no ticket {ticket_id}")
    if old["event_id"] != event_id:
        raise ReissueRefused("other_event", f"ticket {ticket_id} is of event {old['event_id']}, not {event_id}")
    if old["revoked_at"] is not None:
        raise ReissueRefused("already_revoked", f"ticket {ticket_id} was revoked already")
    t = Ticket(event_id=event_id, ticket_id=uuid.uuid4().hex, holder_ref=old["holder_ref"],
               entrances=tuple(old["entrances"]), valid_from=int(old["valid_from"].timestamp()),
               valid_until=int(old["valid_until"].timestamp()), issued_at=now, kind=old["kind"], key_id=key_id)
    payload = tickets.sign(t, key)
    # one live ticket per holder (0021): the old one is revoked before the new one exists, and
    # named as reissued once it does (reissued_as references it)
    await conn.execute("UPDATE tickets SET revoked_at = now(), revoke_reason = $2, revoke_kind = 'revoked'"
                       " WHERE ticket_id = $1", ticket_id, reason)
    await conn.execute(
        "INSERT INTO tickets (ticket_id, event_id, holder_ref, kind, entrances, valid_from, valid_until,"
        " issued_at, key_id, payload, sync_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
        " nextval('sync_version_seq'))",
        t.ticket_id, event_id, t.holder_ref, t.kind, list(t.entrances), old["valid_from"], old["valid_until"],
        _ts(now), key_id, payload)
    await conn.execute(
        "UPDATE tickets SET revoke_kind = 'reissued', reissued_as = $2, sync_version = nextval('sync_version_seq')"
        " WHERE ticket_id = $1", ticket_id, t.ticket_id)
    # the holder may be inside on the old ticket: the new one is where the old one was, or a
    # second person could enter on it while the holder is in (the update numbers it for gates)
    await conn.execute("INSERT INTO presence (event_id, ticket_id) SELECT event_id, $3 FROM presence"
                       " WHERE event_id = $1 AND ticket_id = $2 AND inside IS NOT NULL", event_id, ticket_id,
                       t.ticket_id)
    await conn.execute("UPDATE presence p SET inside = o.inside, gate_id = o.gate_id, at = o.at FROM presence o"
                       " WHERE p.event_id = $1 AND p.ticket_id = $3 AND o.event_id = $1 AND o.ticket_id = $2",
                       event_id, ticket_id, t.ticket_id)
    return t, payload


def qr_png_bytes(payload: str, *, scale: int = 6, border: int = 4) -> bytes:
    """The ticket's QR (ECC level M) as PNG bytes."""
    import io

    import segno

    buf = io.BytesIO()
    segno.make(payload, error="m", micro=False, boost_error=False).save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()


def render_png(payload: str, path: Path, *, scale: int = 6, border: int = 4) -> Path:
    """Write the ticket's QR (ECC level M) as a PNG."""
    png = qr_png_bytes(payload, scale=scale, border=border)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
