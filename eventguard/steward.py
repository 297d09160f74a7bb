"""Steward PINs for gate terminals: issued by the command server, checked by the gate. Pure.

A PIN belongs to one steward at one gate (`eventguard gates pin GATE --steward NAME`). Only
its salted scrypt hash is stored (PostgreSQL) and synced (the gate's lists file); the gate
verifies a sign-in against it with no network. A short PIN is weak against someone holding the
hash, so the hash never leaves the server and the one gate, and the gate limits attempts
(gate/app.py). scrypt costs ~16 MB and tens of milliseconds: call `verify_pin` off the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import random

PIN_DIGITS = 6
SALT_BYTES = 16
_N, _R, _P = 1 << 14, 8, 1  # scrypt cost (16 MiB)


def new_pin(rng: random.Random, digits: int = PIN_DIGITS) -> str:
    """A fresh PIN of `digits` decimal digits (give a secrets.SystemRandom)."""
    return "".join(str(rng.randrange(10)) for _ in range(digits))


def hash_pin(pin: str, salt: bytes) -> bytes:
    """salt + scrypt(pin, salt): what is stored and synced."""
    return salt + hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def verify_pin(stored: bytes, pin: str) -> bool:
    """True if `pin` is the PIN behind `stored` (constant time in the comparison)."""
    if len(stored) != SALT_BYTES + 32:
        return False
    return hmac.compare_digest(hash_pin(pin, stored[:SALT_BYTES]), stored)
