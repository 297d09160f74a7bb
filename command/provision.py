"""Provision a fresh event database: migrations, the demo operators, an event key, gate and camera tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from command import auth, issuing
from command.auth import Role
from command.db.binding import bind_event
from command.db.migrate import migrate
from eventguard.config import Venue
from eventguard.errors import ConfigError, TicketingError

DEMO_USERS = {"commander": ("commander-demo", Role.COMMANDER),
              "operator": ("operator-demo", Role.OPERATOR),
              "viewer": ("viewer-demo", Role.VIEWER)}


@dataclass
class Provisioned:
    """What a fresh venue needs before gates can run."""

    key_id: int
    key: Ed25519PrivateKey
    gate_tokens: dict[str, str]
    camera_tokens: dict[str, str] = field(default_factory=dict)


async def provision(dsn: str, venue: Venue, key_dir: Path) -> Provisioned:
    """Migrate, create demo operators, an event key (if none) and a token per gate."""
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await bind_event(conn, venue.event.id)
        for name, (password, role) in DEMO_USERS.items():
            await auth.create_operator(conn, name, password, role)
        try:
            key_id, key = await issuing.latest_key(conn, venue.event.id, key_dir)
        except (TicketingError, ConfigError):
            key_id, _ = await issuing.create_key(conn, venue.event.id, key_dir)
            key_id, key = await issuing.latest_key(conn, venue.event.id, key_dir)
        tokens = {g.id: await auth.create_device_token(conn, Role.GATE, g.id) for g in venue.gates}
        cameras = {c.id: await auth.create_device_token(conn, Role.CAMERA, c.id) for c in venue.cameras}
        return Provisioned(key_id, key, tokens, cameras)
    finally:
        await conn.close()
