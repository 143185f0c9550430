"""Probes and metrics for the platform around the service; no credentials, so probes never
depend on the key store or the rate limiter."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from serving.api.deps import State
from serving.auth import AUTH_DISABLED_WARNING
from serving.schemas import Health, Ready

router = APIRouter(tags=["ops"])


@router.get("/healthz", response_model=Health)
async def healthz(state: State) -> Health:
    # No docstring: FastAPI would publish it as the OpenAPI description, which is part of the contract.
    # Says whether authentication is off, so nobody runs that way unknowingly.
    if state.auth.enabled:
        return Health(status="ok", auth="enabled")
    return Health(status="ok", auth="disabled", warning=AUTH_DISABLED_WARNING)


@router.get("/readyz", response_model=Ready, responses={503: {"description": "Not ready"}})
async def readyz(state: State) -> Any:
    ready, detail = await state.service.ready()
    return JSONResponse(Ready(ready=ready, detail=detail).model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(state: State) -> Response:
    return Response(state.metrics.exposition(), media_type="text/plain; version=0.0.4")
