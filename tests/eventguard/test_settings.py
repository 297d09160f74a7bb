"""A gate refuses clear text off the machine unless told: its terminal app on a non-loopback
address without TLS, its uplink over ws:// to another host."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventguard.errors import ConfigError
from eventguard.settings import GateEndpoints

LOCAL = "ws://127.0.0.1:8080/ws/gate"


@pytest.mark.parametrize(("endpoints", "error"), [
    (GateEndpoints("127.0.0.1", LOCAL), None),
    (GateEndpoints("localhost", "ws://localhost:8080/ws/gate"), None),
    (GateEndpoints("::1", "ws://[::1]:8080/ws/gate"), None),
    (GateEndpoints("127.0.0.1", "wss://command.example:8443/ws/gate"), None),
    (GateEndpoints("0.0.0.0", LOCAL), "without TLS"),
    (GateEndpoints("10.0.0.7", LOCAL), "without TLS"),
    (GateEndpoints("0.0.0.0", LOCAL, Path("c.pem"), Path("k.pem")), None),
    (GateEndpoints("0.0.0.0", LOCAL, allow_insecure=True), None),
    (GateEndpoints("127.0.0.1", "ws://10.0.0.2:8080/ws/gate"), "clear-text uplink"),
    (GateEndpoints("127.0.0.1", "ws://command.example/ws/gate"), "clear-text uplink"),
    (GateEndpoints("127.0.0.1", "ws://10.0.0.2:8080/ws/gate", allow_insecure=True), None),
    (GateEndpoints("127.0.0.1", "http://127.0.0.1:8080/ws/gate"), "ws:// or wss://"),
    (GateEndpoints("127.0.0.1", LOCAL, tls_cert=Path("c.pem")), "both"),
])
def test_gate_endpoints(endpoints: GateEndpoints, error: str | None) -> None:
    if error is None:
        assert endpoints.validate() is endpoints
    else:
        with pytest.raises(ConfigError, match=error):
            endpoints.validate()
