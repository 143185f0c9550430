"""HTTP API v1 (DESIGN.md, "HTTP contract"): routes, credentials, rate limits, error mapping.

``create_api(state)`` builds the FastAPI app around a ``ServiceState``; the Serve ingress
builds one per replica, tests build one in-process over the local engine. Errors a
caller can fix never become 500: they map to 401/403/404/413/422/429/503 here.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, AsyncIterator

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from data.errors import ConflictError, InvalidFieldError, NotFoundError, PlatformError, ServiceUnavailableError
from data.settings import PlatformSettings
from serving.auth import AUTH_DISABLED_WARNING, Authenticator, AuthError, Principal, RoleError
from serving.auth.keys import KeyStore
from serving.metrics import ServiceMetrics
from serving.middleware import ServiceMiddleware
from serving.auth.ratelimit import RateLimiter
from serving.schemas import (
    BatchItem, BatchRequest, BatchResponse, CityOut, ForecastRequest, ForecastResponse, Health, KeyOut,
    ModelOut, PromoteRequest, Ready,
)
from serving.service import ForecastService

log = logging.getLogger("efp.serving")

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from `efp keys create`.")
_bearer = HTTPBearer(auto_error=False, description="JWT with a `role` claim (viewer, forecaster, admin).")
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text} for code, text in {
        401: "No or bad credentials", 403: "Role too low", 404: "Unknown city or version", 413: "Body too large",
        422: "Invalid field (named in detail)", 429: "Rate limited (see Retry-After)", 503: "No member can answer",
    }.items()
}


@dataclass
class ServiceState:
    settings: PlatformSettings
    service: ForecastService
    auth: Authenticator
    limiter: RateLimiter
    keys: KeyStore | None
    metrics: ServiceMetrics


def error_status(error: BaseException) -> tuple[int, Any]:
    """HTTP status and ``detail`` for an error a caller caused (or 503 for no member), by its class."""
    if isinstance(error, NotFoundError):
        return 404, str(error)
    if isinstance(error, ServiceUnavailableError):
        return 503, str(error)
    if isinstance(error, ConflictError):
        return 409, str(error)
    if isinstance(error, InvalidFieldError):
        return 422, [{"loc": ["body", *error.field.split(".")], "msg": error.message, "type": "value_error"}]
    if isinstance(error, PlatformError):
        return 422, [{"loc": ["body"], "msg": str(error), "type": "value_error"}]
    raise error


def _state(request: Request) -> ServiceState:
    return request.app.state.efp


State = Annotated[ServiceState, Depends(_state)]


def caller(role: str):
    """Dependency: authenticate, check ``role``, take a rate-limit token; the caller id goes to the access log."""

    async def dependency(
        request: Request,
        state: State,
        api_key: Annotated[str | None, Depends(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Principal:
        principal = await state.auth.authenticate(authorization, api_key)
        request.state.caller = principal.id
        principal.require(role)
        if not state.auth.enabled:  # no credentials, so no per-credential budget to keep
            return principal
        decision = await state.limiter.take(principal.id, principal.rate_limit_per_minute or state.settings.serve.rate_limit_per_minute)
        if not decision.allowed:
            state.metrics.rate_limited.inc()
            raise _RateLimited(decision.retry_after_s)
        return principal

    return dependency


class _RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s


Viewer = Annotated[Principal, Depends(caller("viewer"))]
Forecaster = Annotated[Principal, Depends(caller("forecaster"))]
Admin = Annotated[Principal, Depends(caller("admin"))]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AuthError)
    async def _unauthorised(_: Request, error: AuthError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=401, headers={"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'})

    @app.exception_handler(RoleError)
    async def _forbidden(_: Request, error: RoleError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=403)

    @app.exception_handler(_RateLimited)
    async def _limited(_: Request, error: _RateLimited) -> JSONResponse:
        return JSONResponse({"detail": "rate limit exceeded"}, status_code=429, headers={"Retry-After": str(error.retry_after_s)})

    @app.exception_handler(PlatformError)
    async def _platform(_: Request, error: PlatformError) -> JSONResponse:
        status, detail = error_status(error)
        return JSONResponse({"detail": detail}, status_code=status)


def create_api(state: ServiceState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not state.auth.enabled:
            log.warning("*** %s ***", AUTH_DISABLED_WARNING)
        state.service.start()
        yield
        await state.service.stop()

    app = FastAPI(title="Energy Forecast Platform", version="1", lifespan=lifespan,
                  description="Day-ahead and intraday electricity demand forecasts (P10/P50/P90) for Indian cities.")
    app.state.efp = state
    app.add_middleware(ServiceMiddleware, max_body_bytes=state.settings.serve.max_body_bytes, metrics=state.metrics)
    _install_error_handlers(app)

    @app.post("/v1/forecast", response_model=ForecastResponse, responses=ERROR_RESPONSES, tags=["forecast"])
    async def forecast(body: ForecastRequest, who: Forecaster, cache_control: Annotated[str | None, Header()] = None) -> Any:
        """Quantile forecast for one city. ``Cache-Control: no-cache`` skips the response cache."""
        use_cache = "no-cache" not in (cache_control or "").lower()
        return Response(await state.service.forecast_json(body, use_cache=use_cache), media_type="application/json")

    @app.post("/v1/forecast/batch", response_model=BatchResponse, responses=ERROR_RESPONSES, tags=["forecast"])
    async def forecast_batch(body: BatchRequest, who: Forecaster, cache_control: Annotated[str | None, Header()] = None) -> Any:
        """Many forecasts at once; each item reports its own status, so one bad city fails only itself."""
        use_cache = "no-cache" not in (cache_control or "").lower()

        outcomes = await state.service.forecast_many(body.requests, use_cache=use_cache)
        results = []
        for index, (item, outcome) in enumerate(zip(body.requests, outcomes)):
            if isinstance(outcome, PlatformError):
                status, detail = error_status(outcome)
                results.append({"index": index, "city": item.city, "status": status, "forecast": None, "error": str(detail)})
            else:
                results.append({"index": index, "city": item.city, "status": 200, "forecast": outcome, "error": None})
        return JSONResponse({"results": results})

    @app.get("/v1/cities", response_model=list[CityOut], responses=ERROR_RESPONSES, tags=["catalogue"])
    async def cities(who: Viewer) -> list[CityOut]:
        return [CityOut(**c.model_dump(exclude={"name"}), name=c.name) for c in state.service.catalogue]

    @app.get("/v1/models", response_model=list[ModelOut], responses=ERROR_RESPONSES, tags=["models"])
    async def models(who: Viewer) -> list[ModelOut]:
        return await asyncio.to_thread(state.service.directory.list)

    @app.post("/v1/models/{version}/promote", responses={**ERROR_RESPONSES, 409: {"description": "Refused"}}, tags=["models"])
    async def promote(version: str, who: Admin, body: PromoteRequest | None = None) -> dict[str, Any]:
        """Make ``version`` production for its cities (admin); replicas switch within a poll period."""
        result = await asyncio.to_thread(state.service.directory.promote, version, force=bool(body and body.force))
        await state.service.check_registry()
        return result.model_dump(mode="json")

    @app.get("/v1/keys", response_model=list[KeyOut], responses=ERROR_RESPONSES, tags=["admin"])
    async def keys(who: Admin) -> list[KeyOut]:
        if state.keys is None:
            return []
        return [KeyOut(**k.public()) for k in await asyncio.to_thread(state.keys.list)]

    @app.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        if state.auth.enabled:
            return Health(status="ok", auth="enabled")
        return Health(status="ok", auth="disabled", warning=AUTH_DISABLED_WARNING)

    @app.get("/readyz", response_model=Ready, responses={503: {"description": "Not ready"}}, tags=["ops"])
    async def readyz() -> Any:
        ready, detail = await state.service.ready()
        return JSONResponse(Ready(ready=ready, detail=detail).model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), media_type="text/plain; version=0.0.4")

    return app
