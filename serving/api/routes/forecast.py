"""Forecasts: one city, or a batch where each item answers with the status it would have had alone."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import Response

from data.errors import PlatformError
from serving.api.deps import MeteredForecaster, State
from serving.api.errors import ERROR_RESPONSES, error_status
from serving.schemas import BatchRequest, BatchResponse, ForecastRequest, ForecastResponse

router = APIRouter(prefix="/v1/forecast", tags=["forecast"], responses=ERROR_RESPONSES)


@router.post("", response_model=ForecastResponse)
async def forecast(body: ForecastRequest, who: MeteredForecaster, state: State,
                   cache_control: Annotated[str | None, Header()] = None) -> Any:
    """Quantile forecast for one city. ``Cache-Control: no-cache`` skips the response cache (forecaster, admin)."""
    # The service returns the body as JSON bytes (a cache hit verbatim): no re-validation here.
    body_json = await state.service.forecast_json(body, use_cache=who.use_cache(cache_control), charge=who.charge)
    return Response(body_json, media_type="application/json")


@router.post("/batch", response_model=BatchResponse)
async def forecast_batch(body: BatchRequest, who: MeteredForecaster, state: State,
                         cache_control: Annotated[str | None, Header()] = None) -> Any:
    """Many forecasts at once; each item reports its own status, so one bad city fails only itself."""
    outcomes = await state.service.forecast_many_json(body.requests, use_cache=who.use_cache(cache_control), charge=who.charge)
    results = []
    for index, (item, outcome) in enumerate(zip(body.requests, outcomes)):
        if isinstance(outcome, PlatformError):
            status, detail = error_status(outcome)
            results.append({"index": index, "city": item.city, "status": status, "forecast": None, "error": str(detail)})
        else:  # each forecast's bytes embedded as they are: serialised once
            results.append({"index": index, "city": item.city, "status": 200, "forecast": orjson.Fragment(outcome), "error": None})
    return Response(orjson.dumps({"results": results}), media_type="application/json")
