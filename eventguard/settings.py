"""Process settings, validated once at start-up and passed down (business code reads no env)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Command server settings."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""
    venue_path: Path = DEFAULT_VENUE
    web_dir: Path = WEB_DIR
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure: bool = False
    session_ttl_s: float = 12 * 3600
    max_upload_bytes: int = 10 * 1024 * 1024
    live_queue: int = 256  # per live-map client; beyond it the client is resynced
    login_attempts_per_min: int = 10
    tick_s: float = 1.0  # alert evaluation / grid publishing interval
    live_interval_s: float = 0.1  # crowd deltas to live maps are coalesced to this rate
    order_ack_timeout_s: float = 60.0  # unacknowledged orders escalate after this
    face_engine: str = "sface"  # embeds watchlist photos (a vision.engine.EngineName value)
    key_dir: Path | None = None  # photo key for watchlist photos (default: data dir/keys)

    def validate(self) -> ServerSettings:
        """Refuse unsafe combinations; return self for chaining."""
        if not self.database_url:
            raise ConfigError("database_url is required")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} out of range")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("give both --tls-cert and --tls-key, or neither")
        if not is_loopback(self.host) and self.tls_cert is None and not self.allow_insecure:
            raise ConfigError(
                f"refusing to serve on non-loopback address {self.host} without TLS; "
                "give --tls-cert/--tls-key or --allow-insecure"
            )
        return self
