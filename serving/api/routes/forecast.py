"""Forecasts: one city, or a batch where each item answers with the status it would have had alone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
import orjson
from fastapi.responses import Response

from data.errors import PlatformError
from serving.api.deps import Forecaster, State
from serving.api.errors import ERROR_RESPONSES, error_status
from serving.schemas import BatchRequest, BatchResponse, ForecastRequest, ForecastResponse

router = APIRouter(prefix="/v1/forecast", tags=["forecast"], responses=ERROR_RESPONSES)


def _use_cache(cache_control: str | None) -> bool:
    return "no-cache" not in (cache_control or "").lower()


@router.post("", response_model=ForecastResponse)
async def forecast(body: ForecastRequest, who: Forecaster, state: State,
                   cache_control: Annotated[str | None, Header()] = None) -> Any:
    """Quantile forecast for one city. ``Cache-Control: no-cache`` skips the response cache."""
    # The service returns the body as JSON bytes (a cache hit verbatim): no re-validation here.
    return Response(await state.service.forecast_json(body, use_cache=_use_cache(cache_control)), media_type="application/json")


@router.post("/batch", response_model=BatchResponse)
async def forecast_batch(body: BatchRequest, who: Forecaster, state: State,
                         cache_control: Annotated[str | None, Header()] = None) -> Any:
    """Many forecasts at once; each item reports its own status, so one bad city fails only itself."""
    outcomes = await state.service.forecast_many_json(body.requests, use_cache=_use_cache(cache_control))
    results = []
    for index, (item, outcome) in enumerate(zip(body.requests, outcomes)):
        if isinstance(outcome, PlatformError):
            status, detail = error_status(outcome)
            results.append({"index": index, "city": item.city, "status": status, "forecast": None, "error": str(detail)})
        else:  # each forecast's bytes embedded as they are: serialised once
            results.append({"index": index, "city": item.city, "status": 200, "forecast": orjson.Fragment(outcome), "error": None})
    return Response(orjson.dumps({"results": results}), media_type="application/json")
