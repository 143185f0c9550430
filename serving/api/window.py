"""A time window named in query parameters (``start``, ``end``), for the routes that read
what was stored: actual load and issued forecasts.

Both bounds must carry an offset (a bare local time would need the city to interpret it,
and the caller has it anyway: ``GET /v1/cities`` gives each city's timezone). Without
``end`` the window ends now; without ``start`` it starts ``DEFAULT_DAYS`` before ``end``.
A window is at most ``MAX_DAYS`` long, so one request cannot ask for a city's whole history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated

import pandas as pd
from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

DEFAULT_DAYS = 7
MAX_DAYS = 31


@dataclass(frozen=True)
class TimeWindow:
    """``[start, end)`` in UTC."""

    start: pd.Timestamp
    end: pd.Timestamp


def _refuse(field: str, message: str) -> RequestValidationError:
    """FastAPI's own 422 shape, naming the query parameter at fault."""
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


async def time_window(  # async: a plain def dependency runs in FastAPI's thread pool (serving.api.deps._state)
    start: AwareDatetime | None = Query(None, description=f"Window start, with offset (default: {DEFAULT_DAYS} days before end)."),
    end: AwareDatetime | None = Query(None, description="Window end (exclusive), with offset (default: now)."),
) -> TimeWindow:
    upper = pd.Timestamp(end or datetime.now(timezone.utc)).tz_convert("UTC")
    lower = pd.Timestamp(start).tz_convert("UTC") if start is not None else upper - pd.Timedelta(days=DEFAULT_DAYS)
    if lower >= upper:
        raise _refuse("start", f"{lower.isoformat()} is not before end {upper.isoformat()}")
    if upper - lower > pd.Timedelta(days=MAX_DAYS):
        raise _refuse("start", f"the window from {lower.isoformat()} to {upper.isoformat()} is longer than {MAX_DAYS} days")
    return TimeWindow(lower, upper)


Window = Annotated[TimeWindow, Depends(time_window)]
