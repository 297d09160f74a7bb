"""Who is calling: operators (argon2 passwords, session tokens), devices (a token per gate or
camera) and responders (a token per unit)."""

from __future__ import annotations

import asyncio
import enum
import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from command.errors import AuthError, Busy, Forbidden, NotFound

_hasher = PasswordHasher()
# verified against when the user does not exist, so timing does not reveal usernames
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class Role(enum.StrEnum):
    """Roles; the order of privilege is commander > operator > viewer; gate and camera are separate."""

    COMMANDER = "commander"
    OPERATOR = "operator"
    VIEWER = "viewer"
    GATE = "gate"
    RESPONDER = "responder"  # a unit's phone: sees and acknowledges that unit's orders only
    CAMERA = "camera"  # crowd sensing: may only report its own zones and lines (/ws/camera)


STAFF = frozenset({Role.COMMANDER, Role.OPERATOR, Role.VIEWER})
ACTORS = frozenset({Role.COMMANDER, Role.OPERATOR})  # may act and see biometrics/watchlists


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    subject: str  # username or gate id
    role: Role

    def require(self, *roles: Role) -> Principal:
        """Raise Forbidden unless the role is one of roles."""
        if self.role not in roles:
            raise Forbidden(f"role {self.role} may not do this")
        return self


def hash_token(token: str) -> bytes:
    """SHA-256 of a random bearer token (tokens have 256 bits, so no slow hash is needed)."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token() -> str:
    """A fresh random bearer token."""
    return secrets.token_urlsafe(32)


def hash_password(password: str) -> str:
    """argon2id hash of a password."""
    return _hasher.hash(password)


async def create_operator(conn: asyncpg.Connection, username: str, password: str, role: Role) -> None:
    """Create or replace an operator account."""
    if role not in STAFF:
        raise ValueError(f"operators have roles {sorted(STAFF)}, not {role}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    await conn.execute(
        "INSERT INTO operators (username, password_hash, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role",
        username, hash_password(password), role.value,
    )


def verify_password(password_hash: str | None, password: str) -> bool:
    """argon2 verification (slow by design, ~0.1-0.4 s of CPU: run it in PasswordChecks).
    An unknown user (None) is verified against a dummy hash so timing does not tell."""
    try:
        return bool(_hasher.verify(password_hash or _DUMMY_HASH, password)) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class PasswordChecks:
    """Where password hashes are verified: a small thread pool (argon2 releases the GIL, so the
    event loop keeps serving), admitting at most `max_pending` checks at once; beyond that a
    login is answered 503 with Retry-After instead of queueing CPU work without bound."""

    def __init__(self, threads: int = 2, max_pending: int = 8) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="password-checks")
        self._slots = asyncio.Semaphore(max_pending)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """verify_password off the event loop (Busy when too many are pending)."""
        if self._slots.locked():
            raise Busy("too many logins in progress; try again in a second", retry_after_s=1)
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, verify_password, password_hash, password)

    def close(self) -> None:
        """Release the threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


async def login(conn: asyncpg.Connection, username: str, password: str, ttl_s: float,
                checks: PasswordChecks) -> tuple[str, Principal]:
    """Check a password; on success create a session and return (token, principal)."""
    row = await conn.fetchrow(
        "SELECT password_hash, role, disabled FROM operators WHERE username = $1", username)
    if not await checks.verify(row["password_hash"] if row else None, password):
        raise AuthError("wrong username or password")
    if row is None or row["disabled"]:
        raise AuthError("wrong username or password")
    token = new_token()
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await conn.execute(
        "INSERT INTO sessions (token_hash, username, role, expires_at) VALUES ($1, $2, $3, $4)",
        hash_token(token), username, row["role"], expires)
    return token, Principal(username, Role(row["role"]))


async def logout(conn: asyncpg.Connection, token: str) -> None:
    """End a session."""
    await conn.execute("DELETE FROM sessions WHERE token_hash = $1", hash_token(token))


async def session_principal(conn: asyncpg.Connection, token: str) -> Principal | None:
    """The operator behind a session token, or None if unknown, expired or the account is
    disabled. The role is the account's now, not the one it had at login: a demotion or a
    disabling takes effect on the very next request."""
    row = await conn.fetchrow(
        "SELECT o.username, o.role FROM sessions s JOIN operators o ON o.username = s.username"
        " WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT o.disabled",
        hash_token(token))
    return Principal(row["username"], Role(row["role"])) if row else None


# ---- devices: gates and cameras, one token each ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DeviceTokens:
    """The statements over one device role's credentials table (sql/0001 gates, sql/0017 cameras)."""

    issue: str  # $1 device id, $2 token hash
    owner: str  # $1 token hash -> device id


def _device_tokens(table: str, column: str) -> _DeviceTokens:
    # table and column come from _DEVICE_TOKENS below only (a closed set), never from input
    return _DeviceTokens(
        issue=f"INSERT INTO {table} ({column}, token_hash) VALUES ($1, $2) "  # noqa: S608
              f"ON CONFLICT ({column}) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now()",
        owner=f"SELECT {column} FROM {table} WHERE token_hash = $1")  # noqa: S608


_DEVICE_TOKENS = {Role.GATE: _device_tokens("gate_credentials", "gate_id"),
                 Role.CAMERA: _device_tokens("camera_credentials", "camera_id")}


def _device(role: Role) -> _DeviceTokens:
    try:
        return _DEVICE_TOKENS[role]
    except KeyError:
        raise ValueError(f"devices have roles {sorted(_DEVICE_TOKENS)}, not {role}") from None


async def create_device_token(conn: asyncpg.Connection, role: Role, device_id: str) -> str:
    """Issue (or rotate) the token of one gate or camera (by its role); only its hash is stored."""
    sql = _device(role)
    token = new_token()
    await conn.execute(sql.issue, device_id, hash_token(token))
    return token


async def device_principal(conn: asyncpg.Connection, role: Role, token: str) -> Principal | None:
    """The gate or camera (by role) a token belongs to, or None."""
    device_id = await conn.fetchval(_device(role).owner, hash_token(token))
    return Principal(device_id, role) if device_id else None


async def resolve(conn: asyncpg.Connection, token: str) -> Principal | None:
    """Principal for any bearer token (operator session first, then gate, unit, camera)."""
    return (await session_principal(conn, token) or await device_principal(conn, Role.GATE, token)
            or await unit_principal(conn, token) or await device_principal(conn, Role.CAMERA, token))


# ---- responders: one unit's token (issue 20) ----------------------------------------------------


async def create_unit_token(conn: asyncpg.Connection, unit_id: str, issued_by: str) -> str:
    """Issue (or rotate: the old phone is signed out) the token of one unit in service."""
    token = new_token()
    done = await conn.fetchval(
        "INSERT INTO unit_credentials (unit_id, token_hash, issued_by)"
        " SELECT id, $2, $3 FROM units WHERE id = $1 AND retired_at IS NULL"
        " ON CONFLICT (unit_id) DO UPDATE SET token_hash = EXCLUDED.token_hash,"
        " issued_by = EXCLUDED.issued_by, created_at = now() RETURNING unit_id",
        unit_id, hash_token(token), issued_by)
    if done is None:
        raise NotFound(f"no unit {unit_id} in service")
    return token


async def unit_principal(conn: asyncpg.Connection, token: str) -> Principal | None:
    """The unit a responder token belongs to (while the unit is in service), or None."""
    unit_id = await conn.fetchval(
        "SELECT c.unit_id FROM unit_credentials c JOIN units u ON u.id = c.unit_id"
        " WHERE c.token_hash = $1 AND u.retired_at IS NULL", hash_token(token))
    return Principal(unit_id, Role.RESPONDER) if unit_id else None

