"""What a route declares it needs: the replica's state, and a caller of at least some role.

One dependency per role authenticates, checks the role and takes a rate-limit token, so a
route cannot do one of the three without the others; the caller id it records is what the
access log prints.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.api.state import ServiceState
from serving.auth import Principal, Role
from serving.auth.ratelimit import RateLimitedError

# auto_error=False: a missing credential is the Authenticator's 401 (with its message), not FastAPI's 403.
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key from `efp keys create`.")
_bearer = HTTPBearer(auto_error=False, description="JWT with a `role` claim (viewer, forecaster, admin).")


def _state(request: Request) -> ServiceState:
    return request.app.state.efp


State = Annotated[ServiceState, Depends(_state)]


def caller(role: Role) -> Callable[..., Awaitable[Principal]]:
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
            raise RateLimitedError(decision.retry_after_s)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(caller("viewer"))]
Forecaster = Annotated[Principal, Depends(caller("forecaster"))]
Admin = Annotated[Principal, Depends(caller("admin"))]
