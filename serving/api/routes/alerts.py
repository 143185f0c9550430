"""Alerts raised by the monitor job, for operators' dashboards (viewer role)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from data.stores import open_metadata
from serving.api.deps import State, Viewer
from serving.api.errors import ERROR_RESPONSES
from training.monitoring.alerts import alert_row

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)


class AlertOut(BaseModel):
    id: int
    city: str | None
    kind: str
    severity: str
    message: str
    value: float | None
    threshold: float | None
    created_at: datetime
    resolved_at: datetime | None = None


@router.get("", response_model=list[AlertOut])
async def alerts(who: Viewer, state: State, city: str | None = Query(None, max_length=32, description="Only this city's alerts."),
                 limit: int = Query(100, ge=1, le=1000, description="At most this many, newest first.")) -> list[AlertOut]:
    """Alerts newest first; ``resolved_at`` is null while the condition holds."""
    code = state.service.catalogue.get(city).code if city else None  # an unknown city is a 404
    rows = await asyncio.to_thread(lambda: open_metadata(state.settings).alerts(city=code, limit=limit))
    return [AlertOut(**alert_row(row)) for row in rows]
