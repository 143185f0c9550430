"""Forecasts the platform issued and kept (the forecast store), for a window (viewer role):
what was forecast for days whose actuals are now known. ``efp forecasts list`` is the CLI's view."""

from __future__ import annotations

import asyncio

import pandas as pd
from fastapi import APIRouter, Query

from data.stores import open_forecasts
from data.stores.forecasts import stored_forecasts
from serving.api.deps import State, Viewer
from serving.api.errors import ERROR_RESPONSES
from serving.api.window import Window
from serving.schemas import ForecastPoint, StoredForecastOut

router = APIRouter(prefix="/v1/forecasts", tags=["history"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[StoredForecastOut])
async def forecasts(who: Viewer, state: State, window: Window,
                    city: str = Query(..., min_length=1, max_length=32, description="Catalogue code, e.g. DEL.")) -> list[StoredForecastOut]:
    """Stored forecasts of the city with blocks in ``[start, end)`` (only those blocks), oldest
    target day and issue time first; served and scheduled ones alike (``source``)."""
    known = state.service.catalogue.get(city)  # an unknown city is a 404
    blocks = await asyncio.to_thread(lambda: open_forecasts(state.settings).read(known.code, window.start, window.end))

    def local(value) -> pd.Timestamp:
        return pd.Timestamp(value).tz_convert(known.tz)

    return [
        StoredForecastOut(
            **record.model_dump(exclude={"points", "as_of", "issued_at"}), as_of=local(record.as_of), issued_at=local(record.issued_at),
            blocks=len(record.points), points=[ForecastPoint(ts=local(p.ts), p10=p.p10, p50=p.p50, p90=p.p90) for p in record.points])
        for record in stored_forecasts(blocks)
    ]
