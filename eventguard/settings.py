"""Process settings, validated once at start-up and passed down (business code reads no env)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from eventguard.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENUE = REPO_ROOT / "sim" / "scenarios" / "demo.toml"
WEB_DIR = REPO_ROOT / "web"


def data_dir() -> Path:
    """Per-user data directory (embedded PostgreSQL, keys, gate journals)."""
    return Path(platformdirs.user_data_dir("eventguard", appauthor=False))


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SECRET_MIN_CHARS = 32


def read_secret_file(path: Path, what: str) -> str:
    """A shared secret from a file only its owner may read (0600): at least 32 characters on
    its first line. ConfigError naming the file and what is wrong."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{what}: cannot read {path}: {getattr(err, 'strerror', None) or err}") from err
    if mode & 0o077:
        raise ConfigError(f"{what}: {path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    lines = text.strip().splitlines()
    secret = lines[0].strip() if lines else ""
    if len(secret) < SECRET_MIN_CHARS or len(lines) > 1 or any(c.isspace() for c in secret):
        raise ConfigError(f"{what}: {path} must hold one line of at least {SECRET_MIN_CHARS} characters "
                          "without spaces (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return secret


def live_url(url: str, what: str) -> str:
    """A ws:// or wss:// URL with a host (the live maps' address); ConfigError otherwise."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - refuses a port that is not a number
    except ValueError as err:
        raise ConfigError(f"{what}: bad port in {url!r}") from err
    if parts.scheme not in ("ws", "wss") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{what} must be a ws:// or wss:// URL with a host (e.g. wss://live.example.org/ws/live), "
                          f"not {url!r}")
    return url


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Command server settings."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""  # what the server runs with (the embedded server: its app role)
    admin_database_url: str = ""  # migrations at start-up run with this (empty: database_url)
    venue_path: Path = DEFAULT_VENUE
    web_dir: Path = WEB_DIR
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure: bool = False
    session_ttl_s: float = 12 * 3600
    max_upload_bytes: int = 10 * 1024 * 1024
    live_queue: int = 256  # per live-map client; beyond it the client is resynced
    login_attempts_per_min: int = 10  # failed logins per client address, and per username
    login_failures_per_min: int = 100  # failed logins in total (spraying from many addresses)
    tick_s: float = 1.0  # alert evaluation / grid publishing interval
    live_interval_s: float = 0.1  # crowd deltas to live maps are coalesced to this rate
    order_ack_timeout_s: float = 60.0  # unacknowledged orders escalate after this
    allowed_origins: tuple[str, ...] = ()  # pages of these origins may post too (e.g. behind a proxy)
    header_timeout_s: float = 10.0  # a connection must send a whole request head within this
    session_recheck_s: float = 5.0  # open websockets re-check their session (demotion, disabling)
    face_engine: str = "sface"  # embeds watchlist photos (a vision.engine.EngineName value)
    key_dir: Path | None = None  # photo key for watchlist photos (default: data dir/keys)
    # digital twin (issue 19): how often it forecasts, and how far ahead (runs only when a model is given)
    twin_interval_s: float = 30.0
    twin_horizon_s: float = 900.0
    # live push at scale (issue 20): /ws/live served by fan-out replica processes fed by this server
    live_replicas: int = 0  # 0: this process serves /ws/live itself (`serve` defaults to 2)
    live_port: int = 0  # the replicas' port (0: any free one; the pages ask GET /api/live)
    live_buffer_bytes: int = 1 << 20  # unsent bytes per live client before it is resynced
    # replicas on other machines: a fixed feed secret (a 0600 file) they share with this server, and
    # the URL live maps connect to (a load balancer in front of them); GET /api/live returns it
    live_feed_secret_file: Path | None = None  # None: a secret generated at each start (local replicas only)
    live_public_url: str = ""  # ws(s)://host[:port]/ws/live; empty: this server or its local replicas

    def validate(self) -> ServerSettings:
        """Refuse unsafe combinations; return self for chaining."""
        if not self.database_url:
            raise ConfigError("database_url is required")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} out of range")
        if not 0 < self.session_recheck_s <= 300:
            raise ConfigError(f"session_recheck_s {self.session_recheck_s} must be in (0, 300] seconds")
        if not 0 < self.twin_interval_s <= 3600 or not 60 <= self.twin_horizon_s <= 3600:
            raise ConfigError(f"twin_interval_s {self.twin_interval_s} must be in (0, 3600] s and "
                              f"twin_horizon_s {self.twin_horizon_s} in [60, 3600] s")
        if not 0 <= self.live_replicas <= 64 or not 0 <= self.live_port < 65536:
            raise ConfigError(f"live_replicas {self.live_replicas} must be in [0, 64] and "
                              f"live_port {self.live_port} in [0, 65535]")
        if self.live_public_url:
            live_url(self.live_public_url, "live_public_url")
        if self.live_feed_secret_file is not None:
            read_secret_file(self.live_feed_secret_file, "live_feed_secret_file")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("give both --tls-cert and --tls-key, or neither")
        if not is_loopback(self.host) and self.tls_cert is None and not self.allow_insecure:
            raise ConfigError(
                f"refusing to serve on non-loopback address {self.host} without TLS; "
                "give --tls-cert/--tls-key or --allow-insecure"
            )
        return self


@dataclass(frozen=True, slots=True)
class GateEndpoints:
    """Where a gate listens (its terminal app) and the command server it streams to."""

    host: str
    server_url: str  # ws://host:port/ws/gate or wss://...
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure: bool = False

    def validate(self) -> GateEndpoints:
        """Refuse clear text off the machine unless told (--allow-insecure); return self."""
        url = urlsplit(self.server_url)
        if url.scheme not in ("ws", "wss") or not url.hostname:
            raise ConfigError(f"--server must be a ws:// or wss:// URL, not {self.server_url!r}")
        if url.scheme == "ws" and not is_loopback(url.hostname) and not self.allow_insecure:
            raise ConfigError(
                f"refusing a clear-text uplink to non-loopback host {url.hostname} (its gate token and "
                "every admission would cross the network unencrypted); use wss:// or --allow-insecure")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("give both --tls-cert and --tls-key, or neither")
        if not is_loopback(self.host) and self.tls_cert is None and not self.allow_insecure:
            raise ConfigError(
                f"refusing to serve the gate terminal on non-loopback address {self.host} without TLS; "
                "give --tls-cert/--tls-key or --allow-insecure")
        return self
