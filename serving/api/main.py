"""HTTP API v1 (docs/contracts.md, "HTTP contract"): the FastAPI app around one ``ServiceState``.

The Serve ingress builds one per replica, tests build one in-process over the local engine.
This module only assembles: routes live in ``routes/``, what they depend on in ``deps.py``,
error -> status in ``errors.py``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serving.api.errors import install_error_handlers
from serving.api.routes import actuals, alerts, cities, forecast, keys, models, ops, stored
from serving.api.state import ServiceState
from serving.auth import AUTH_DISABLED_WARNING
from serving.dashboard import router as dashboard_router
from serving.middleware import ServiceMiddleware

log = logging.getLogger("efp.serving")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.efp
    if not state.auth.enabled:
        log.warning("*** %s ***", AUTH_DISABLED_WARNING)
    state.service.start()
    yield
    await state.service.stop()


def create_api(state: ServiceState) -> FastAPI:
    app = FastAPI(title="Energy Forecast Platform", version="1", lifespan=_lifespan,
                  description="Day-ahead and intraday electricity demand forecasts (P10/P50/P90) for Indian cities.")
    app.state.efp = state
    app.add_middleware(ServiceMiddleware, max_body_bytes=state.settings.serve.max_body_bytes, metrics=state.metrics)
    install_error_handlers(app)
    app.include_router(forecast.router)
    app.include_router(cities.router)
    app.include_router(models.router)
    app.include_router(alerts.router)
    app.include_router(actuals.router)
    app.include_router(stored.router)
    app.include_router(keys.router)
    app.include_router(ops.router)
    app.include_router(dashboard_router)
    return app
