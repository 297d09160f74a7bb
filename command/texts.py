"""Human text for alert codes (kept apart from the decision logic, which speaks in codes)."""

from __future__ import annotations

from command.alerts import Alert, AlertKind


def alert_message(alert: Alert) -> str:
    """One line an operator reads on the alert feed."""
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
    return f"{alert.kind.value}: {subject}"
