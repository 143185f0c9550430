"""From findings to alert events: raised once per condition, resolved when it clears.

A finding is one checked condition (say "day-ahead MAPE of DEL") with its value, threshold
and whether it is breached. An open alert (``resolved_at`` empty) with the same kind, city
and condition means it is already raised: nothing is written again. A condition that is
checked and no longer breached resolves its open alert. A condition that could not be
checked (too few blocks) leaves its alert as it is: no data is not a recovery.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from data.stores import MetadataStore
from training.monitoring.config import Severity

log = logging.getLogger("efp.monitor")
AlertKind = Literal["forecast_error", "drift", "data_stale", "model_stale"]
ALERT_KINDS: tuple[str, ...] = ("forecast_error", "drift", "data_stale", "model_stale")


class Finding(BaseModel):
    kind: AlertKind
    city: str
    condition: str  # what was checked, unique per kind and city: "mape:day_ahead", "psi:load_mw", "load_age"
    value: float
    threshold: float
    breached: bool
    severity: Severity = "warning"
    message: str


class AlertChange(BaseModel):
    id: int
    change: Literal["raised", "resolved"]
    kind: str
    city: str | None
    condition: str
    severity: str
    message: str
    value: float | None
    threshold: float | None


def alert_row(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as the CLI and HTTP contracts list it: {id, city, kind, severity, message, value, threshold,
    created_at}, plus resolved_at (None while its condition holds)."""
    details = alert.get("details") or {}
    return {"id": int(alert["id"]), "city": alert.get("city"), "kind": alert["kind"], "severity": alert["severity"],
            "message": alert["message"], "value": details.get("value"), "threshold": details.get("threshold"),
            "created_at": alert["created_at"], "resolved_at": alert.get("resolved_at")}


def reconcile(metadata: MetadataStore, findings: list[Finding], *, webhook_url: str | None = None) -> list[AlertChange]:
    """Write what changed: a new breach raises an alert, a cleared one resolves it."""
    open_alerts = {(a["kind"], a.get("city"), (a.get("details") or {}).get("condition")): a
                   for a in metadata.alerts(limit=100_000, open_only=True)}
    changes: list[AlertChange] = []
    for finding in findings:
        key = (finding.kind, finding.city, finding.condition)
        current = open_alerts.get(key)
        if finding.breached and current is None:
            details = {"condition": finding.condition, "value": finding.value, "threshold": finding.threshold}
            alert_id = metadata.add_alert(finding.kind, finding.message, city=finding.city, severity=finding.severity,
                                          details=details)
            changes.append(AlertChange(id=alert_id, change="raised", condition=finding.condition, kind=finding.kind,
                                       city=finding.city, severity=finding.severity, message=finding.message,
                                       value=finding.value, threshold=finding.threshold))
            log.warning("alert raised: %s %s %s: %s", finding.kind, finding.city, finding.condition, finding.message)
        elif not finding.breached and current is not None:
            metadata.resolve_alert(int(current["id"]))
            changes.append(AlertChange(id=int(current["id"]), change="resolved", condition=finding.condition,
                                       kind=finding.kind, city=finding.city, severity=current["severity"],
                                       message=f"resolved: {finding.message}", value=finding.value,
                                       threshold=finding.threshold))
            log.info("alert resolved: %s %s %s: %s", finding.kind, finding.city, finding.condition, finding.message)
    if webhook_url and changes:
        notify(webhook_url, changes)
    return changes


def notify(url: str, changes: list[AlertChange], *, timeout_s: float = 5.0) -> bool:
    """POST the changes as JSON ``{"alerts": [...]}``; a receiver that is down is logged, never fatal
    (the alerts are already in the store, which is what the CLI and ``GET /v1/alerts`` read)."""
    try:
        response = httpx.post(url, json={"alerts": [c.model_dump() for c in changes]}, timeout=timeout_s)
        response.raise_for_status()
        return True
    except httpx.HTTPError as error:
        log.warning("alert webhook %s failed: %s", url, error)
        return False
