"""The latest live picture of each camera, kept in memory: its density grid (the live map's
heatmap) and its latest thumbnail (shown on click).

Nothing of it is stored: a server restart forgets it until each camera's next interval (a grid)
or next thumbnail (every --frame-every-s, 10 s by default). A grid older than STALE_AFTER_S
(server clock at receipt, as for the zone estimates) is no longer shown. A camera sending
faster than one live message per `min_gap_s` has the extra ones dropped, so a misbehaving
camera cannot flood every live map. Pure: no I/O, `now` is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from command.crowdsense import STALE_AFTER_S
from eventguard.wire import CameraHeat, CameraLive


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A camera's latest frame as it sent it."""

    jpeg: bytes
    at: float  # camera clock
    received_at: float  # server clock


class CameraFeed:
    """Latest grid and thumbnail per camera."""

    def __init__(self, stale_after_s: float = STALE_AFTER_S, min_gap_s: float = 0.2) -> None:
        self.stale_after_s = stale_after_s
        self.min_gap_s = min_gap_s
        self._last: dict[str, float] = {}  # camera id -> server time of its last accepted message
        self.dropped = 0
        self._heat: dict[str, tuple[CameraHeat, float]] = {}
        self._frames: dict[str, Thumbnail] = {}

    def take(self, msg: CameraLive, now: float) -> CameraHeat | None:
        """Keep what a live message brings (an older one than held is ignored); the new heat, if any."""
        if now - self._last.get(msg.camera_id, -1e18) < self.min_gap_s:
            self.dropped += 1
            return None
        self._last[msg.camera_id] = now
        heat = None
        held = self._heat.get(msg.camera_id)
        if msg.grid is not None and (held is None or msg.at >= held[0].at):
            heat = CameraHeat(camera_id=msg.camera_id, at=msg.at, grid=msg.grid)
            self._heat[msg.camera_id] = (heat, now)
        old = self._frames.get(msg.camera_id)
        if msg.frame is not None and (old is None or msg.at >= old.at):
            self._frames[msg.camera_id] = Thumbnail(msg.frame, msg.at, now)
        return heat

    def heat(self, now: float) -> tuple[CameraHeat, ...]:
        """The fresh grids, by camera id."""
        return tuple(h for _, (h, got) in sorted(self._heat.items()) if now - got <= self.stale_after_s)

    def frame(self, camera_id: str) -> Thumbnail | None:
        """The camera's latest thumbnail (however old: its age goes with it)."""
        return self._frames.get(camera_id)
