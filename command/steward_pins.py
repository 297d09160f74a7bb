"""Steward PINs for gate terminals, issued here and synced to their gate (eventguard.steward).

Written by the CLI (`eventguard gates pin`) as the database owner; the command server only
reads them for the list sync (sql/0015_steward.sql).
"""

from __future__ import annotations

import random
import secrets

import asyncpg

from eventguard.steward import SALT_BYTES, hash_pin, new_pin


async def issue_pin(conn: asyncpg.Connection, event_id: str, gate_id: str, steward: str,
                    rng: random.Random | None = None) -> str:
    """Issue (or replace) the PIN of one steward at one gate; the PIN (only its hash is kept)."""
    pin = new_pin(rng or secrets.SystemRandom())
    await conn.execute(
        "INSERT INTO steward_pins (event_id, gate_id, steward, pin_hash) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id, gate_id, steward) DO UPDATE SET pin_hash = EXCLUDED.pin_hash, created_at = now()",
        event_id, gate_id, steward, hash_pin(pin, secrets.token_bytes(SALT_BYTES)))
    return pin
