"""Actual load as stored, for a window: what operators compare forecasts with (viewer role).

Read from the time-series store (the lake or PostgreSQL) on each request; the Serve
ingress holds no history of its own, and a dashboard asks for a week at a time.
"""

from __future__ import annotations

import asyncio

import pandas as pd
from fastapi import APIRouter, Query

from data.stores import open_store
from serving.api.deps import State, Viewer
from serving.api.errors import ERROR_RESPONSES
from serving.api.window import Window
from serving.schemas import ActualPoint, ActualsOut

router = APIRouter(prefix="/v1/actuals", tags=["history"], responses=ERROR_RESPONSES)


@router.get("", response_model=ActualsOut)
async def actuals(who: Viewer, state: State, window: Window,
                  city: str = Query(..., min_length=1, max_length=32, description="Catalogue code, e.g. DEL.")) -> ActualsOut:
    """Stored load blocks of the city with ``start <= ts < end``, oldest first, times in the city's timezone."""
    known = state.service.catalogue.get(city)  # an unknown city is a 404
    frame = await asyncio.to_thread(lambda: open_store(state.settings).read_load(known.code, window.start, window.end))
    stamps = pd.to_datetime(frame["ts"], utc=True).dt.tz_convert(known.tz)
    points = [ActualPoint(ts=ts.to_pydatetime(), load_mw=float(load)) for ts, load in zip(stamps, frame["load_mw"])]
    return ActualsOut(city=known.code, points=points)
