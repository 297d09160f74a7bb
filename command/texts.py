"""Human text for alert codes (kept apart from the decision logic, which speaks in codes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from command.alerts import Alert, AlertKind

_ACTION = {"meter_inflow": "slow admissions at {gate}", "divert": "divert {gate} arrivals to {target_gate}",
           "open_lanes": "open {lanes} lane(s) at {gate}"}


def suggestion_text(s: Mapping[str, Any]) -> str:
    """A proposed order in words."""
    return _ACTION.get(str(s.get("action")), str(s.get("action"))).format(**{k: s.get(k) for k in
                                                                          ("gate", "target_gate", "lanes")})


def alert_message(alert: Alert, details: Mapping[str, Any] | None = None) -> str:
    """One line an operator reads on the alert feed (with proposed orders, if any)."""
    text = _message(alert)
    proposals = (details or {}).get("suggestions") or []
    if proposals:
        text += " — suggest: " + "; ".join(suggestion_text(p) for p in proposals[:3])
    return text


def _message(alert: Alert) -> str:
    v = alert.value
    subject = alert.subject
    match alert.kind:
        case AlertKind.DENSITY_WARNING | AlertKind.DENSITY_CRITICAL:
            return f"{subject}: density {v:.2f} p/m²" if v is not None else f"{subject}: high density"
        case AlertKind.CAPACITY_FORECAST:
            return (f"{subject}: capacity in about {v / 60:.0f} min at the current inflow"
                    if v is not None else f"{subject}: filling up")
        case AlertKind.WATCHLIST_HIT:
            return f"watchlist candidate at gate {alert.details.get('gate_id', subject)} — review"
        case AlertKind.DENY_RATE_SPIKE:
            return f"gate {subject}: {v * 100:.0f}% of scans denied" if v is not None else f"gate {subject}: many denials"
        case AlertKind.GATE_SILENT:
            return f"gate {subject}: no events for {v / 60:.0f} min" if v is not None else f"gate {subject} silent"
        case AlertKind.PASSBACK_CONFLICT:
            d = alert.details
            return (f"ticket {subject} admitted at {d.get('gate_id')} while inside since "
                    f"{d.get('first_gate_id') or 'another gate'} — counted once; check the holder")
        case AlertKind.FORECAST_CROSSING:  # issue 19: the twin's forecast
            line, lead = alert.details.get("line"), alert.details.get("lead_s")
            when = f"in about {float(lead) / 60:.0f} min" if lead is not None else "within 15 min"
            return f"{subject}: forecast to reach {alert.level.value} density {line} p/m² {when} (twin)"
        case AlertKind.GATE_OFFLINE:
            return (f"gate {subject}: disconnected for {v:.0f} s (deciding offline, journaling)"
                    if v is not None else f"gate {subject} disconnected")
        case AlertKind.CROWD_DENSITY:  # crowd sensing (issue 18)
            d = alert.details
            return (f"{subject}: camera density {v:.2f} p/m² at or above {d.get('threshold')} for "
                    f"{d.get('min_duration_s')} s" if v is not None else f"{subject}: crowd density alarm")
        case AlertKind.CAMERA_DISAGREEMENT:
            d = alert.details
            return (f"{subject}: gates count {d.get('gate_occupancy')} inside, cameras see about "
                    f"{d.get('camera_people')} — check the counting lines and the camera")
        case AlertKind.ORDER_UNACKNOWLEDGED:  # issue 20: escalation found nobody else
            return f"order #{subject} not acknowledged: {alert.details.get('reason')} — act now"
    return f"{alert.kind.value}: {subject}"
